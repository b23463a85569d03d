import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { Job, Page } from '../api/types';
import { Can } from '../auth/session';
import { ConfirmButton, useConfirm } from '../components/confirm';
import { RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';
import { useUrlState } from '../components/url-state';
import { Table } from '../components/table';

/** Who the caller is, as GET /auth/me says (`actor`): a job's requester may not decide on it. */
function useCurrentActor(): string | undefined {
  const me = useQuery({ queryKey: ['auth', 'me'], queryFn: () => api.get<{ actor?: string; user?: string }>('/auth/me'), staleTime: 5 * 60_000 });
  return me.data?.actor ?? me.data?.user;
}

const STATUSES = ['Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running', 'Completed', 'Failed', 'Cancelled'];
const TYPES = ['Issuance', 'Renewal', 'Deployment', 'Validation'];

export default function JobsPage() {
  const { values, page, set } = useUrlState(['status', 'type'] as const);
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  useDocumentTitle('Jobs');
  const actor = useCurrentActor();
  const list = useQuery({
    queryKey: ['jobs', values, page],
    queryFn: () => api.get<Page<Job>>('/jobs', { status: values.status, type: values.type, page, per_page: 50 }),
    refetchInterval: 5000,
  });
  const decide = useMutation({
    mutationFn: ({ job, decision }: { job: Job; decision: 'approve' | 'reject' }) => api.post<Job>(`/jobs/${encodeURIComponent(job.id)}/${decision}`, {}),
    onSuccess: (job, { decision }) => {
      toast.success(`Job ${job.id} ${decision === 'approve' ? 'approved' : 'rejected'}`);
      void queryClient.invalidateQueries({ queryKey: ['jobs'] });
    },
    onError: toast.error,
  });
  return (
    <section aria-labelledby="jobs-title">
      <h1 id="jobs-title">Jobs</h1>
      <div className="filters">
        <label>
          Status
          <select value={values.status} onChange={(e) => set({ status: e.target.value })}>
            <option value="">Any</option>
            {STATUSES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <label>
          Type
          <select value={values.type} onChange={(e) => set({ type: e.target.value })}>
            <option value="">Any</option>
            {TYPES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
      </div>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No jobs match.">
        <Table label="Jobs">
          <thead><tr><th scope="col">Job</th><th scope="col">Type</th><th scope="col">Certificate</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Created</th><th scope="col">Error</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.data?.data.map((j) => (
              <tr key={j.id} data-testid={`job-${j.id}`}>
                <td className="mono"><Link to={`/jobs/${encodeURIComponent(j.id)}`}>{j.id}</Link></td>
                <td>{j.type}</td>
                <td>{j.certificate_id ? <Link to={`/certificates/${encodeURIComponent(j.certificate_id)}`}>{j.certificate_id}</Link> : '—'}</td>
                <td>
                  <StatusBadge status={j.status} />
                  {j.wait_reason ? <span className="muted" title={j.wait_reason}> {j.wait_reason.startsWith('waiting for CA budget') ? 'waiting for CA budget' : 'waiting'}{j.scheduled_at ? <> until <RelativeTime iso={j.scheduled_at} /></> : null}</span> : null}
                </td>
                <td>{j.attempts ?? 0}/{j.max_attempts ?? '—'}</td>
                <td><RelativeTime iso={j.created_at} /></td>
                <td className="truncate" title={j.last_error ?? ''}>{j.last_error ?? ''}</td>
                <td className="row-actions">
                  {j.status === 'AwaitingApproval' && actor !== undefined && j.requested_by === actor && (
                    <span className="muted small" data-testid={`own-request-${j.id}`}>Your request: another approver decides</span>
                  )}
                  {j.status === 'AwaitingApproval' && actor !== undefined && j.requested_by !== actor && (
                    <Can permission={['approval.approve', 'approval.reject']} scope="any">
                      <button type="button" onClick={() => decide.mutate({ job: j, decision: 'approve' })} aria-label={`Approve job ${j.id}`}>Approve</button>
                      <ConfirmButton ask={confirm.ask} label="Reject" ariaLabel={`Reject job ${j.id}`} title={`Reject job ${j.id}?`} onConfirm={() => decide.mutate({ job: j, decision: 'reject' })} />
                    </Can>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={50} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {confirm.dialog}
    </section>
  );
}
