import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, ApiRequestError } from '../api/client';
import type { Issuer, Page } from '../api/types';
import { Can } from '../auth/session';
import { absoluteTime, RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';
import { Table } from '../components/table';

interface CrlCacheRow {
  issuer_id: string;
  crl_number?: string;
  this_update?: string;
  next_update?: string;
  revoked_count?: number;
  crl_size_bytes?: number;
  generation_duration_ms?: number;
}

interface Intermediate {
  id: string;
  name?: string;
  common_name?: string;
  status?: string;
  not_after?: string | null;
  parent_id?: string | null;
}

/** Config values that look secret are never echoed (the API masks them; this is a second guard). */
const SECRET_KEY = /key|secret|password|token|hmac/i;

/** One issuer: its configuration, a connection test, its CRL (as the responder serves it) and its intermediate CAs. */
export default function IssuerDetailPage() {
  const { id = '' } = useParams();
  const path = `/issuers/${encodeURIComponent(id)}`;
  const queryClient = useQueryClient();
  const toast = useToast();
  const issuer = useQuery({ queryKey: ['/issuers', 'one', id], queryFn: () => api.get<Issuer & { last_tested_at?: string | null }>(path) });
  const notFound = issuer.error instanceof ApiRequestError && issuer.error.status === 404;
  useDocumentTitle(issuer.data?.name ?? (notFound ? 'Issuer not found' : 'Issuer'));
  const known = issuer.isSuccess;
  const crl = useQuery({ queryKey: ['crl-cache'], queryFn: () => api.get<{ data: CrlCacheRow[] }>('/admin/crl/cache'), enabled: known });
  const intermediates = useQuery({
    queryKey: ['/issuers', 'intermediates', id],
    queryFn: () => api.get<Page<Intermediate>>(`${path}/intermediates`),
    enabled: known,
    retry: false,
  });
  const test = useMutation({
    mutationFn: () => api.post<{ status?: string; message?: string }>(`${path}/test`),
    onSuccess: (result) => {
      const text = `${issuer.data?.name}: ${result.status ?? 'done'}${result.message ? ` — ${result.message}` : ''}`;
      if (result.status === 'failed' || result.status === 'failure') toast.error(new Error(text));
      else toast.success(text);
      void queryClient.invalidateQueries({ queryKey: ['/issuers'] });
    },
    onError: toast.error,
  });

  if (notFound) {
    return (
      <section aria-labelledby="issuer-title">
        <p><Link to="/issuers">‹ Issuers</Link></p>
        <h1 id="issuer-title">Issuer not found</h1>
        <p className="state state-error" role="alert">There is no issuer with the id <span className="mono">{id}</span>.</p>
      </section>
    );
  }
  const i = issuer.data;
  const crlRow = crl.data?.data.find((r) => r.issuer_id === id);
  return (
    <section aria-labelledby="issuer-title">
      <p><Link to="/issuers">‹ Issuers</Link></p>
      <QueryState isLoading={issuer.isLoading} error={issuer.error}>
        {i && (
          <>
            <div className="page-head">
              <h1 id="issuer-title">{i.name}</h1>
              <StatusBadge status={i.test_status} />
              <Can access="write">
                <button type="button" onClick={() => test.mutate()} disabled={test.isPending} aria-label={`Test connection to ${i.name}`}>Test connection</button>
              </Can>
            </div>
            <dl className="card overview" data-testid="issuer-config">
              <dt>Id</dt><dd className="mono">{i.id}</dd>
              <dt>Type</dt><dd>{i.type}</dd>
              <dt>Enabled</dt><dd>{i.enabled === false ? 'no' : 'yes'}</dd>
              <dt>Last tested</dt><dd><RelativeTime iso={i.last_tested_at} empty="never" /></dd>
              {Object.entries(i.config ?? {}).map(([k, v]) => (
                <ConfigEntry key={k} k={k} v={SECRET_KEY.test(k) ? '••••••' : typeof v === 'object' ? JSON.stringify(v) : String(v)} />
              ))}
            </dl>
          </>
        )}
      </QueryState>

      <h2>Revocation (CRL and OCSP)</h2>
      <QueryState isLoading={crl.isLoading} error={crl.error}>
        {crlRow ? (
          <dl className="card overview" data-testid="issuer-crl">
            <dt>CRL number</dt><dd>{crlRow.crl_number ?? '—'}</dd>
            <dt>This update</dt><dd>{crlRow.this_update ? absoluteTime(crlRow.this_update) : '—'}</dd>
            <dt>Next update</dt><dd><RelativeTime iso={crlRow.next_update} /></dd>
            <dt>Revoked serials</dt><dd>{crlRow.revoked_count ?? 0}</dd>
            <dt>Size</dt><dd>{crlRow.crl_size_bytes ?? 0} bytes</dd>
          </dl>
        ) : (
          <p className="state state-empty" data-testid="issuer-crl">
            No CRL has been generated for this issuer yet: the responder builds one on the first CRL or OCSP request.
          </p>
        )}
      </QueryState>

      <h2>Intermediate CAs</h2>
      <QueryState isLoading={intermediates.isLoading} error={intermediates.error instanceof ApiRequestError && intermediates.error.status < 500 ? null : intermediates.error} isEmpty={!intermediates.data?.data.length} empty="No intermediate CAs under this issuer.">
        <>
          <Table label="Intermediate CAs">
            <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Expires</th><th scope="col">Parent</th></tr></thead>
            <tbody>
              {intermediates.data?.data.map((m) => (
                <tr key={m.id}>
                  <td>{m.name ?? m.common_name ?? m.id}</td>
                  <td><StatusBadge status={m.status} /></td>
                  <td><RelativeTime iso={m.not_after} /></td>
                  <td className="mono">{m.parent_id ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
      </QueryState>
    </section>
  );
}

function ConfigEntry({ k, v }: { k: string; v: string }) {
  return (
    <>
      <dt>{k}</dt>
      <dd className="mono wrap">{v}</dd>
    </>
  );
}
