import { useMutation, useQuery } from '@tanstack/react-query';
import { api, withQuery } from '../api/client';
import { saveBlob } from '../components/download';
import { useToast } from '../components/toasts';
import type { AuditEvent, ChainVerification, Page } from '../api/types';
import { RelativeTime } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useUrlState } from '../components/url-state';
import { useDocumentTitle } from '../components/title';
import { Table } from '../components/table';

const CATEGORIES = ['cert_lifecycle', 'auth', 'config'];
const ACTOR_TYPES = ['User', 'System', 'Agent', 'APIKey', 'Anonymous'];

const CSV_COLUMNS = ['timestamp', 'seq', 'id', 'actor', 'actor_type', 'action', 'event_category', 'resource_type', 'resource_id', 'details'] as const;

/** RFC 4180 quoting; a cell that starts like a formula is prefixed so a spreadsheet shows it as text. */
function csvCell(value: unknown): string {
  let s = value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The server exports NDJSON (one event per line); CSV is made from it here, one column per field. */
export function ndjsonToCsv(ndjson: string): string {
  const rows = ndjson.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
  return [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => csvCell(r[c])).join(','))].join('\r\n') + '\r\n';
}

/** datetime-local inputs have no zone: read them as local time, send them as ISO. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

/** Who exactly: the person (user, provider, session) behind a console session, or the API key (id), as the api recorded it. */
function Identity({ details }: { details?: Record<string, unknown> | null }) {
  const identity = details?.identity as Record<string, string | null> | undefined;
  if (!identity || typeof identity !== 'object') return null;
  const parts = identity.key_id
    ? [`key ${identity.key_id}`]
    : [identity.email, identity.user_id ? `user ${identity.user_id}` : null, identity.provider_id ? `via ${identity.provider_id}` : null, identity.session_id ? `session ${identity.session_id}` : null];
  return <div className="muted small" data-testid="audit-identity">{parts.filter(Boolean).join(' · ')}</div>;
}

export default function AuditPage() {
  useDocumentTitle('Audit trail');
  const { values, page, set } = useUrlState(['category', 'actor', 'actor_type', 'action', 'resource_id', 'since', 'until'] as const);
  const list = useQuery({
    queryKey: ['audit', values, page],
    queryFn: () =>
      api.get<Page<AuditEvent>>('/audit', {
        category: values.category, actor: values.actor, actor_type: values.actor_type, action: values.action, resource_id: values.resource_id,
        since: toIso(values.since), until: toIso(values.until), page, per_page: 50,
      }),
  });
  const toast = useToast();
  const exportAudit = useMutation({
    mutationFn: async (format: 'csv' | 'ndjson') => {
      const filters = { category: values.category, actor: values.actor, actor_type: values.actor_type, action: values.action, resource_id: values.resource_id, from: toIso(values.since), to: toIso(values.until) };
      const blob = await api.download(withQuery('/audit/export', filters));
      const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '');
      if (format === 'ndjson') saveBlob(blob, `audit-${stamp}.ndjson`);
      else saveBlob(new Blob([ndjsonToCsv(await blob.text())], { type: 'text/csv' }), `audit-${stamp}.csv`);
    },
    onError: toast.error,
  });
  const verify = useMutation({ mutationFn: () => api.get<ChainVerification>('/audit/verify') });
  const result = verify.data;
  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit trail</h1>
        <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
          {verify.isPending ? 'Verifying…' : 'Verify chain'}
        </button>
        <button type="button" onClick={() => exportAudit.mutate('csv')} disabled={exportAudit.isPending}>Export CSV</button>
        <button type="button" onClick={() => exportAudit.mutate('ndjson')} disabled={exportAudit.isPending}>Export NDJSON</button>
      </div>
      {verify.error ? <p className="state state-error" role="alert">Could not verify: {(verify.error as Error).message}</p> : null}
      {result && (
        <p className={`verify ${result.intact ? 'verify-ok' : 'verify-broken'}`} role="status" data-testid="verify-result">
          {result.intact
            ? `OK — ${result.rows_checked ?? 0} rows, hash chain intact`
            : `Broken at row ${result.first_break?.seq ?? '?'} (${result.first_break?.id ?? 'unknown id'}): ${result.first_break?.reason ?? ''}`}
        </p>
      )}
      {result?.warning ? <p className="state state-warning" role="note" data-testid="verify-warning">{result.warning}</p> : null}
      <div className="filters">
        <label>
          Category
          <select value={values.category} onChange={(e) => set({ category: e.target.value })}>
            <option value="">Any</option>
            {CATEGORIES.map((c) => <option key={c}>{c}</option>)}
          </select>
        </label>
        <label>
          Actor type
          <select value={values.actor_type} onChange={(e) => set({ actor_type: e.target.value })}>
            <option value="">Any</option>
            {ACTOR_TYPES.map((c) => <option key={c}>{c}</option>)}
          </select>
        </label>
        <label>Actor<input value={values.actor} onChange={(e) => set({ actor: e.target.value })} /></label>
        <label>Action<input value={values.action} onChange={(e) => set({ action: e.target.value })} /></label>
        <label>Resource id<input value={values.resource_id} onChange={(e) => set({ resource_id: e.target.value })} /></label>
        <label>Since<input type="datetime-local" value={values.since} onChange={(e) => set({ since: e.target.value })} /></label>
        <label>Until<input type="datetime-local" value={values.until} onChange={(e) => set({ until: e.target.value })} /></label>
      </div>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No audit events match.">
        <Table label="Audit events">
          <thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Resource</th><th scope="col">Category</th></tr></thead>
          <tbody>
            {list.data?.data.map((e) => (
              <tr key={e.id}>
                <td><RelativeTime iso={e.timestamp} /></td>
                <td>{e.actor} <span className="muted">{e.actor_type}</span><Identity details={e.details} /></td>
                <td>{e.action}</td>
                <td className="truncate" title={`${e.resource_type ?? ''} ${e.resource_id ?? ''}`}>{e.resource_type} {e.resource_id}</td>
                <td>{e.event_category}</td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={50} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
    </section>
  );
}
