import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api } from '../api/client';
import type { Job } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { DetailFrame, isNotFound } from '../components/detail';
import { RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';

interface Verification {
  job_id: string;
  status: string;
  verified: boolean;
  expected_fingerprint?: string;
  actual_fingerprint?: string;
  verified_at?: string;
  error?: string;
}

/** The statuses the API lets a job be cancelled from (libs/contracts CANCELLABLE_JOB_STATUSES). */
const CANCELLABLE = new Set(['Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running']);
const FINISHED = new Set(['Completed', 'Failed', 'Cancelled', 'Rejected']);

/** One job: its steps (queued, decided, started, finished, verified), its verification, and cancel. */
export default function JobDetailPage() {
  const { id = '' } = useParams();
  const path = `/jobs/${encodeURIComponent(id)}`;
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const job = useQuery({
    queryKey: ['jobs', 'one', id],
    queryFn: () => api.get<Job>(path),
    refetchInterval: (q) => (q.state.data && !FINISHED.has(q.state.data.status) ? 2000 : false),
  });
  const notFound = isNotFound(job.error);
  useDocumentTitle(job.data ? `Job ${job.data.id}` : notFound ? 'Job not found' : 'Job');
  const j = job.data;
  const verification = useQuery({
    queryKey: ['jobs', 'verification', id, j?.verified_at],
    queryFn: () => api.get<Verification>(`${path}/verification`),
    enabled: j?.type === 'Deployment',
    retry: false,
  });
  const cancel = useMutation({
    mutationFn: () => api.post<Job>(`${path}/cancel`, {}),
    onSuccess: () => {
      toast.success(`Job ${id} cancelled`);
      void queryClient.invalidateQueries({ queryKey: ['jobs'] });
    },
    onError: toast.error,
  });
  const steps: Array<{ label: string; at?: string | null; detail?: string }> = j
    ? [
        { label: 'Created', at: j.created_at, detail: j.requested_by ? `by ${j.requested_by}` : undefined },
        { label: 'Scheduled', at: j.scheduled_at },
        ...(j.decided_by ? [{ label: j.status === 'Rejected' ? 'Rejected' : 'Approved', at: j.updated_at, detail: `by ${j.decided_by}${j.decision_note ? `: ${j.decision_note}` : ''}` }] : []),
        { label: 'Started', at: j.started_at, detail: j.attempts ? `attempt ${j.attempts} of ${j.max_attempts ?? '?'}` : undefined },
        { label: FINISHED.has(j.status) ? j.status : 'Not finished', at: j.completed_at, detail: j.last_error ?? undefined },
        ...(j.type === 'Deployment' ? [{ label: 'Verified', at: j.verified_at, detail: j.verification_status ?? undefined }] : []),
      ]
    : [];
  return (
    <DetailFrame back="/jobs" backLabel="Jobs" titleId="job-title" notFound={notFound} kind="job" id={id}>
      <QueryState isLoading={job.isLoading} error={job.error}>
        {j && (
          <>
            <div className="page-head">
              <h1 id="job-title">Job <span className="mono">{j.id}</span></h1>
              <StatusBadge status={j.status} />
            </div>
            <div className="actions">
              <Can permission="job.cancel" scope="any">
                {CANCELLABLE.has(j.status) && (
                  <button
                    type="button"
                    className="danger"
                    disabled={cancel.isPending}
                    onClick={() => confirm.ask({ title: `Cancel job ${j.id}?`, destructive: true, confirmLabel: 'Cancel job', onConfirm: () => cancel.mutate() })}
                  >
                    Cancel job
                  </button>
                )}
              </Can>
            </div>
            <dl className="card overview">
              <dt>Type</dt><dd>{j.type}</dd>
              <dt>Certificate</dt><dd>{j.certificate_id ? <Link to={`/certificates/${encodeURIComponent(j.certificate_id)}`}>{j.certificate_id}</Link> : '—'}</dd>
              <dt>Target</dt><dd>{j.target_id ? <Link to={`/targets/${encodeURIComponent(j.target_id)}`}>{j.target_id}</Link> : '—'}</dd>
              <dt>Agent</dt><dd>{j.agent_id ? <Link to={`/agents/${encodeURIComponent(j.agent_id)}`}>{j.agent_id}</Link> : '—'}</dd>
              <dt>Attempts</dt><dd>{j.attempts ?? 0}/{j.max_attempts ?? '—'}</dd>
            </dl>
            <h2>Steps</h2>
            <ol className="timeline" data-testid="job-steps">
              {steps.map((s) => (
                <li key={s.label} data-done={Boolean(s.at)}>
                  <strong>{s.label}</strong> <RelativeTime iso={s.at} empty="not yet" /> {s.detail && <span className="muted">{s.detail}</span>}
                </li>
              ))}
            </ol>
            {j.type === 'Deployment' && (
              <>
                <h2>Verification</h2>
                <QueryState isLoading={verification.isLoading} error={isNotFound(verification.error) ? undefined : verification.error}>
                  {verification.data ? (
                    <dl className="card overview" data-testid="job-verification">
                      <dt>Result</dt><dd><StatusBadge status={verification.data.status} /></dd>
                      <dt>Expected fingerprint</dt><dd className="mono truncate">{verification.data.expected_fingerprint ?? '—'}</dd>
                      <dt>Served fingerprint</dt><dd className="mono truncate">{verification.data.actual_fingerprint ?? '—'}</dd>
                      <dt>Checked</dt><dd><RelativeTime iso={verification.data.verified_at} empty="not yet" /></dd>
                      {verification.data.error && (<><dt>Error</dt><dd className="error-text">{verification.data.error}</dd></>)}
                    </dl>
                  ) : (
                    <p className="state state-empty">Not verified yet.</p>
                  )}
                </QueryState>
              </>
            )}
          </>
        )}
      </QueryState>
      {confirm.dialog}
    </DetailFrame>
  );
}
