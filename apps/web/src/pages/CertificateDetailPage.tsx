import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { AssignmentForm, LifecycleTimeline, Pkcs12Export, RevocationPanel } from './CertificatePanels';
import { useUrlState } from '../components/url-state';
import { api, ApiRequestError } from '../api/client';
import type { Certificate, CertificateVersion, Job, Page } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { absoluteTime, Expiry, RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';
import { REVOCATION_REASONS } from './CertificatesPage';
import { Table } from '../components/table';

interface RenewalInfo {
  window_start?: string | null;
  window_end?: string | null;
  selected_renewal_at?: string | null;
  explanation_url?: string | null;
  last_polled_at?: string | null;
  next_poll_at?: string | null;
  last_error?: string | null;
  current?: boolean;
}

/** Statuses that change by themselves soon: the page polls while the certificate is in one. */
const MOVING = new Set(['Pending', 'RenewalInProgress']);

export default function CertificateDetailPage() {
  const { id = '' } = useParams();
  const path = `/certificates/${encodeURIComponent(id)}`;
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const [reason, setReason] = useState('unspecified');
  const [open, setOpen] = useState<'pkcs12' | 'assign' | null>(null);
  const { values, set } = useUrlState(['tab'] as const);
  const tab = (['revocation', 'timeline'] as const).find((t) => t === values.tab) ?? 'overview';

  const cert = useQuery({
    queryKey: ['certificates', 'one', id],
    queryFn: () => api.get<Certificate>(path),
    refetchInterval: (q) => (MOVING.has(q.state.data?.status ?? '') ? 1000 : 30_000),
  });
  const moving = MOVING.has(cert.data?.status ?? '');
  const notFound = cert.error instanceof ApiRequestError && cert.error.status === 404;
  useDocumentTitle(cert.data?.name ?? (notFound ? 'Certificate not found' : 'Certificate'));
  // The panels below ask only once the certificate itself is known: an unknown id is said once, not four times.
  const known = cert.isSuccess;
  const versions = useQuery({ queryKey: ['certificates', 'versions', id, cert.data?.status], queryFn: () => api.get<Page<CertificateVersion>>(`${path}/versions`), enabled: known });
  const deployments = useQuery({
    queryKey: ['certificates', 'deployments', id],
    queryFn: () => api.get<Page<Job>>(`${path}/deployments`),
    refetchInterval: moving ? 2000 : false,
    enabled: known,
  });
  const renewal = useQuery({ queryKey: ['certificates', 'renewal-info', id], queryFn: () => api.get<RenewalInfo>(`${path}/renewal-info`), enabled: known });

  const refresh = () => queryClient.invalidateQueries({ queryKey: ['certificates'] });
  const renew = useMutation({
    mutationFn: () => api.post<{ status: string; job_id?: string }>(`${path}/renew`),
    onSuccess: () => {
      toast.success('Renewal started');
      void refresh();
    },
    onError: toast.error,
  });
  const revoke = useMutation({
    mutationFn: () => api.post<{ status: string }>(`${path}/revoke`, { reason }),
    onSuccess: () => {
      toast.success('Certificate revoked');
      void refresh();
    },
    onError: (err) => toast.error(err instanceof ApiRequestError && err.status === 404 && err.code !== 'CERTIFICATE_NOT_FOUND' ? new Error('Revocation is not available on this server') : err),
  });

  const deploy = useMutation({
    mutationFn: () => api.post<{ jobs: Array<{ job_id: string }> }>(`${path}/deploy`, {}),
    onSuccess: (r) => {
      toast.success(`Deployment started: ${r.jobs.length} target${r.jobs.length === 1 ? '' : 's'}`);
      void refresh();
    },
    onError: toast.error,
  });
  const archive = useMutation({
    mutationFn: () => api.delete(path),
    onSuccess: () => {
      toast.success('Certificate archived');
      void refresh();
    },
    onError: toast.error,
  });

  async function downloadPem() {
    // The key goes in a header, never in a URL, so the file is fetched here and handed to the browser as a blob.
    try {
      const url = URL.createObjectURL(await api.download(`${path}/export/pem?download=true`));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${id}.pem`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      toast.error(err);
    }
  }

  const c = cert.data;
  const revoked = c?.status === 'Revoked';
  if (notFound) {
    return (
      <section aria-labelledby="cert-title">
        <p><Link to="/certificates">‹ Certificates</Link></p>
        <h1 id="cert-title">Certificate not found</h1>
        <p className="state state-error" role="alert">
          There is no certificate with the id <span className="mono">{id}</span>. It may have been deleted, or the link is mistyped.
        </p>
      </section>
    );
  }
  return (
    <section aria-labelledby="cert-title">
      <p><Link to="/certificates">‹ Certificates</Link></p>
      <QueryState isLoading={cert.isLoading} error={cert.error}>
        {c && (
          <>
            <div className="page-head">
              <h1 id="cert-title">{c.name}</h1>
              <StatusBadge status={c.status} />
              {moving && <span className="muted" role="status">updating…</span>}
            </div>
            <div className="actions">
              <Can permission="cert.issue" scope="any">
                <button type="button" className="primary" onClick={() => renew.mutate()} disabled={renew.isPending || c.status === 'Revoked' || c.status === 'Archived'}>
                  Renew
                </button>
              </Can>
              {c.status !== 'Pending' && (
                <button type="button" onClick={downloadPem}>
                  Download PEM
                </button>
              )}
              <Can permission="cert.edit" scope="any">
                {c.status !== 'Pending' && c.status !== 'Archived' && !revoked && (
                  <button type="button" onClick={() => deploy.mutate()} disabled={deploy.isPending}>Deploy now</button>
                )}
              </Can>
              {/* The server lets cert.read export PKCS#12; the console offers the private key to those who may change the certificate, as before. */}
              <Can permission="cert.edit" scope="any">
                {c.status !== 'Pending' && (
                  <button type="button" onClick={() => setOpen(open === 'pkcs12' ? null : 'pkcs12')} aria-expanded={open === 'pkcs12'}>Export PKCS#12</button>
                )}
              </Can>
              <Can permission="healthcheck.edit">
                <Link className="button" to={`/health-checks?certificate_id=${encodeURIComponent(c.id)}`}>Monitor its endpoint</Link>
              </Can>
              <Can permission="cert.edit" scope="any">
                {c.status !== 'Archived' && (
                  <button type="button" onClick={() => setOpen(open === 'assign' ? null : 'assign')} aria-expanded={open === 'assign'}>Change policy, profile or owner</button>
                )}
              </Can>
              <Can permission="cert.delete" scope="any">
                {c.status !== 'Archived' && (
                  <button
                    type="button"
                    onClick={() => confirm.ask({
                      title: `Archive ${c.name}?`, destructive: true, confirmLabel: 'Archive',
                      children: <p>It leaves the inventory and is no longer renewed; its versions and history are kept.</p>,
                      onConfirm: () => archive.mutate(),
                    })}
                  >
                    Archive
                  </button>
                )}
              </Can>
              {!revoked && c.status !== 'Archived' && (
              <Can permission="cert.revoke" scope="any">
                <label>
                  Reason
                  <select value={reason} onChange={(e) => setReason(e.target.value)}>
                    {REVOCATION_REASONS.map((r) => <option key={r}>{r}</option>)}
                  </select>
                </label>
                <button
                  type="button"
                  className="danger"
                  disabled={c.status === 'Revoked' || revoke.isPending}
                  onClick={() =>
                    confirm.ask({
                      title: `Revoke ${c.name}?`,
                      destructive: true,
                      confirmLabel: 'Revoke',
                      children: <p>Revocation cannot be undone. Reason: {reason}.</p>,
                      onConfirm: () => revoke.mutate(),
                    })
                  }
                >
                  Revoke
                </button>
              </Can>
              )}
            </div>
            {open === 'pkcs12' && <Pkcs12Export certificate={c} onDone={() => setOpen(null)} />}
            {open === 'assign' && <AssignmentForm certificate={c} onDone={() => setOpen(null)} />}
            {revoked && (
              <p className="revoked-banner" role="note" data-testid="revoked-banner">
                Revoked <RelativeTime iso={c.revoked_at} empty="(date not recorded)" />
                {c.revocation_reason ? ` — reason: ${c.revocation_reason}` : ''}. Relying parties that check revocation reject it.
              </p>
            )}
            <dl className="card overview">
              <dt>Common name</dt><dd>{c.common_name}</dd>
              <dt>SANs</dt><dd>{c.sans?.length ? c.sans.join(', ') : '—'}</dd>
              {revoked ? (
                <>
                  <dt>Revoked</dt><dd data-testid="revoked-at">{c.revoked_at ? <time dateTime={c.revoked_at}>{absoluteTime(c.revoked_at)}</time> : '—'}</dd>
                  <dt>Revocation reason</dt><dd data-testid="revocation-reason">{c.revocation_reason || 'unspecified'}</dd>
                  <dt>Would have expired</dt><dd className="muted"><RelativeTime iso={c.expires_at} /></dd>
                </>
              ) : (
                <><dt>Expires</dt><dd><Expiry iso={c.expires_at} /></dd></>
              )}
              <dt>Environment</dt><dd>{c.environment || '—'}</dd>
              <dt>Issuer</dt><dd>{c.issuer_id ?? '—'}</dd>
              <dt>Owner</dt><dd data-testid="cert-owner">{c.owner_id ?? '—'}</dd>
              <dt>Renewal policy</dt><dd data-testid="cert-policy">{c.renewal_policy_id ?? '—'}</dd>
              <dt>Profile</dt><dd data-testid="cert-profile">{c.certificate_profile_id ?? '—'}</dd>
              <dt>Last renewal</dt><dd><RelativeTime iso={c.last_renewal_at} /></dd>
              <dt>Last deployment</dt><dd><RelativeTime iso={c.last_deployment_at} /></dd>
            </dl>
          </>
        )}
      </QueryState>

      <div role="tablist" aria-label="Certificate views" className="tabs">
        {([['overview', 'Overview'], ['revocation', 'CRL / OCSP'], ['timeline', 'Timeline']] as const).map(([key, label]) => (
          <button key={key} type="button" role="tab" id={`cert-tab-${key}`} aria-selected={tab === key} aria-controls="cert-panel"
            onClick={() => set({ tab: key === 'overview' ? undefined : key }, { replace: true })}>
            {label}
          </button>
        ))}
      </div>
      <div id="cert-panel" role="tabpanel" aria-labelledby={`cert-tab-${tab}`}>
      {tab !== 'overview' && c && (
        <QueryState isLoading={versions.isLoading} error={versions.error}>
          {tab === 'revocation' && <RevocationPanel certificate={c} versions={versions.data?.data ?? []} />}
          {tab === 'timeline' && <LifecycleTimeline certificate={c} versions={versions.data?.data ?? []} />}
        </QueryState>
      )}
      {tab === 'overview' && (
      <>
      <h2>Renewal information (ARI)</h2>
      <QueryState isLoading={renewal.isLoading} error={renewal.error}>
        {renewal.data?.window_start ? (
          <dl className="card overview">
            <dt>Window</dt>
            <dd><RelativeTime iso={renewal.data.window_start} /> – <RelativeTime iso={renewal.data.window_end} /></dd>
            <dt>Renewal chosen at</dt><dd><RelativeTime iso={renewal.data.selected_renewal_at} /></dd>
            <dt>Next check</dt><dd><RelativeTime iso={renewal.data.next_poll_at} /></dd>
            {renewal.data.last_error && (<><dt>Last error</dt><dd className="error-text">{renewal.data.last_error}</dd></>)}
          </dl>
        ) : (
          <p className="state state-empty">The issuer has suggested no renewal window for this certificate.</p>
        )}
      </QueryState>

      <h2>Versions</h2>
      <QueryState isLoading={versions.isLoading} error={versions.error} isEmpty={!versions.data?.data.length} empty="Not issued yet.">
        <Table label="Versions">
          <thead><tr><th scope="col">Serial</th><th scope="col">Valid from</th><th scope="col">Valid to</th><th scope="col">Key</th><th scope="col">SHA-256</th></tr></thead>
          <tbody data-testid="version-rows">
            {versions.data?.data.map((v) => (
              <tr key={v.id}>
                <td className="mono">{v.serial_number}</td>
                <td><RelativeTime iso={v.not_before} /></td>
                <td>{revoked ? <span className="muted"><RelativeTime iso={v.not_after} /></span> : <Expiry iso={v.not_after} />}</td>
                <td>{v.key_algorithm} {v.key_size || ''}</td>
                <td className="mono truncate" title={v.fingerprint_sha256}>{v.fingerprint_sha256?.slice(0, 16)}…</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </QueryState>

      <h2>Deployments</h2>
      <QueryState isLoading={deployments.isLoading} error={deployments.error} isEmpty={!deployments.data?.data.length} empty="No deployments.">
        <Table label="Deployments">
          <thead><tr><th scope="col">Target</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Finished</th><th scope="col">Error</th></tr></thead>
          <tbody>
            {deployments.data?.data.map((j) => (
              <tr key={j.id}>
                <td>{j.target_id ?? '—'}</td>
                <td><StatusBadge status={j.status} /></td>
                <td>{j.attempts ?? 0}/{j.max_attempts ?? '—'}</td>
                <td><RelativeTime iso={j.completed_at} /></td>
                <td className="truncate" title={j.last_error ?? ''}>{j.last_error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      </QueryState>
      </>
      )}
      </div>
      {confirm.dialog}
    </section>
  );
}
