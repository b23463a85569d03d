import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { ApprovalRequest, Page } from '../api/types';
import { Can } from '../auth/session';
import { ConfirmDialog } from '../components/confirm';
import { RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';
import { useUrlState } from '../components/url-state';
import { Table } from '../components/table';

const STATES = ['pending', 'approved', 'rejected', 'expired'];
const KINDS: Record<string, string> = { cert_issuance: 'Issuance', profile_edit: 'Profile edit' };

/** Who the caller is, as GET /auth/me says (`actor`): a requester may not decide their own request. */
function useCurrentActor(): string | undefined {
  const me = useQuery({ queryKey: ['auth', 'me'], queryFn: () => api.get<{ actor?: string; user?: string }>('/auth/me'), staleTime: 5 * 60_000 });
  return me.data?.actor ?? me.data?.user;
}

function Subject({ request }: { request: ApprovalRequest }) {
  if (request.approval_kind === 'profile_edit') {
    const fields = Object.keys(request.payload ?? {});
    return (
      <>
        Profile <Link to="/profiles">{request.profile_id}</Link>
        <span className="muted small" title={JSON.stringify(request.payload)}> ({fields.join(', ') || 'no fields'})</span>
      </>
    );
  }
  return (
    <>
      Job {request.job_id ? <Link to={`/jobs/${encodeURIComponent(request.job_id)}`}>{request.job_id}</Link> : '—'}
      {request.certificate_id ? <> of <Link to={`/certificates/${encodeURIComponent(request.certificate_id)}`}>{request.certificate_id}</Link></> : null}
    </>
  );
}

/**
 * The four-eyes queue: pending requests first (the default filter), with Approve and Reject (with a note) offered
 * only to someone other than the requester; the api refuses a self-decision all the same (403).
 */
export default function ApprovalsPage() {
  const { values, page, set } = useUrlState(['state', 'kind'] as const);
  // No state in the URL: the pending ones (what needs someone); "any" lists every state.
  const state = values.state || 'pending';
  const queryClient = useQueryClient();
  const toast = useToast();
  const actor = useCurrentActor();
  useDocumentTitle('Approvals');
  const [rejecting, setRejecting] = useState<ApprovalRequest | undefined>();
  const [note, setNote] = useState('');
  const list = useQuery({
    queryKey: ['approvals', state, values.kind, page],
    queryFn: () => api.get<Page<ApprovalRequest>>('/approvals', { state: state === 'any' ? undefined : state, approval_kind: values.kind || undefined, page, per_page: 50 }),
    refetchInterval: 5000,
  });
  const decide = useMutation({
    mutationFn: ({ request, decision, note: why }: { request: ApprovalRequest; decision: 'approve' | 'reject'; note?: string }) =>
      api.post<ApprovalRequest>(`/approvals/${encodeURIComponent(request.id)}/${decision}`, why ? { note: why } : {}),
    onSuccess: (decided) => {
      toast.success(`Request ${decided.id} ${decided.state}`);
      void queryClient.invalidateQueries({ queryKey: ['approvals'] });
      void queryClient.invalidateQueries({ queryKey: ['jobs'] });
    },
    onError: toast.error,
  });
  return (
    <section aria-labelledby="approvals-title">
      <h1 id="approvals-title">Approvals</h1>
      <p className="muted">Issuance of certificates whose profile requires approval, and edits of approval-gated profiles, wait here for someone other than the requester.</p>
      <div className="filters">
        <label>
          State
          <select value={state} onChange={(e) => set({ state: e.target.value === 'pending' ? '' : e.target.value })}>
            <option value="any">Any</option>
            {STATES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <label>
          Kind
          <select value={values.kind} onChange={(e) => set({ kind: e.target.value })}>
            <option value="">Any</option>
            {Object.entries(KINDS).map(([k, label]) => <option key={k} value={k}>{label}</option>)}
          </select>
        </label>
      </div>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty={state === 'pending' ? 'Nothing waits for approval.' : 'No requests match.'}>
        <Table label="Approval requests">
          <thead><tr><th scope="col">Request</th><th scope="col">Kind</th><th scope="col">Subject</th><th scope="col">Requested by</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Decision</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.data?.data.map((r) => (
              <tr key={r.id} data-testid={`approval-${r.id}`}>
                <td className="mono">{r.id}</td>
                <td>{KINDS[r.approval_kind] ?? r.approval_kind}</td>
                <td><Subject request={r} /></td>
                <td>{r.requested_by}</td>
                <td><StatusBadge status={r.state} /></td>
                <td><RelativeTime iso={r.created_at} /></td>
                <td>{r.state === 'pending' ? <RelativeTime iso={r.expires_at} /> : '—'}</td>
                <td className="truncate" title={r.decision_note ?? ''}>{r.decided_by ? `${r.decided_by}${r.decision_note ? `: ${r.decision_note}` : ''}` : ''}</td>
                <td className="row-actions">
                  {r.state === 'pending' && actor !== undefined && r.requested_by === actor && (
                    <span className="muted small" data-testid={`own-approval-${r.id}`}>Your request: another approver decides</span>
                  )}
                  {r.state === 'pending' && actor !== undefined && r.requested_by !== actor && (
                    <Can permission={['approval.approve', 'approval.reject']} scope="any">
                      <button type="button" onClick={() => decide.mutate({ request: r, decision: 'approve' })} aria-label={`Approve request ${r.id}`}>Approve</button>
                      <button type="button" className="danger" aria-label={`Reject request ${r.id}`} onClick={() => { setNote(''); setRejecting(r); }}>Reject</button>
                    </Can>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={50} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {rejecting && (
        <ConfirmDialog
          title={`Reject request ${rejecting.id}?`}
          confirmLabel="Reject"
          destructive
          onCancel={() => setRejecting(undefined)}
          onConfirm={() => { decide.mutate({ request: rejecting, decision: 'reject', note: note.trim() || undefined }); setRejecting(undefined); }}
        >
          <label>
            Note (kept with the decision)
            <textarea value={note} maxLength={2000} onChange={(e) => setNote(e.target.value)} />
          </label>
        </ConfirmDialog>
      )}
    </section>
  );
}
