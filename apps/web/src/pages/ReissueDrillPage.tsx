import { useMutation, useQuery } from '@tanstack/react-query';
import { FormEvent, useState } from 'react';
import { api } from '../api/client';
import type { Page } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useUrlState } from '../components/url-state';

/** POST /issuers/{id}/reissue and GET …/reissue/{drill_id} (apps/api/src/modules/reissue): the fields shown here. */
interface DryRun {
  total: number;
  certificates: Array<{ certificate_id: string; name: string; serial_number: string }>;
  /** Certificates of our ACME server's clients: renewed by the clients themselves, asked through ARI. */
  renewed_by_acme_clients: Array<{ certificate_id: string; name: string; serial_number: string }>;
}
interface Started {
  drill_id: string;
  total: number;
}
interface Progress {
  drill_id: string;
  status: 'running' | 'completed';
  reason: string;
  revocation_reason: string;
  revoke_old: boolean;
  total: number;
  ari_requested: number;
  issued: number;
  deployed: number;
  verified: number;
  revoked: number;
  failed: number;
  unverified: number;
  problems: Array<{ certificate_id: string; state: string; error: string | null }>;
}

const COUNTS: Array<[keyof Progress, string]> = [
  ['issued', 'Issued'], ['deployed', 'Deployed'], ['verified', 'Served (TLS check)'], ['revoked', 'Old serial revoked'], ['failed', 'Failed'],
  ['unverified', 'Unverified (old serial kept)'],
];

/** A mass re-issue drill: preview the certificates of an issuer, start it, and follow it until every old serial is revoked. */
export default function ReissueDrillPage() {
  const { values, set } = useUrlState(['issuer', 'drill'] as const);
  const [reason, setReason] = useState('');
  const [revokeOld, setRevokeOld] = useState(true);
  const toast = useToast();
  const confirm = useConfirm();
  const issuers = useQuery({ queryKey: ['issuers', 'all'], queryFn: () => api.get<Page<{ id: string; name: string }>>('/issuers', { per_page: 500 }) });
  const path = `/issuers/${encodeURIComponent(values.issuer)}/reissue`;
  const preview = useMutation({ mutationFn: () => api.post<DryRun>(path, { reason, dry_run: true }), onError: toast.error });
  const start = useMutation({
    mutationFn: () => api.post<Started>(path, { reason, revoke_old: revokeOld }),
    onSuccess: (drill) => {
      toast.success(`Drill ${drill.drill_id} started for ${drill.total} certificates`);
      set({ issuer: values.issuer, drill: drill.drill_id });
    },
    onError: toast.error,
  });
  const progress = useQuery({
    queryKey: ['reissue', values.issuer, values.drill],
    queryFn: () => api.get<Progress>(`${path}/${encodeURIComponent(values.drill)}`),
    enabled: Boolean(values.issuer && values.drill),
    refetchInterval: (q) => (q.state.data?.status === 'completed' ? false : 2000),
  });

  function onPreview(e: FormEvent) {
    e.preventDefault();
    preview.mutate();
  }

  return (
    <section aria-labelledby="reissue-title">
      <h1 id="reissue-title">Re-issue drill</h1>
      <p className="muted">
        Every active certificate of the issuer is issued again and deployed through its agents and connectors; each old serial is
        revoked only once the post-deploy TLS check sees the new certificate served (at once for a certificate without targets).
      </p>
      <Can permission="issuer.reissue" scope={{ type: 'issuer' }}>
        <form className="filters" onSubmit={onPreview}>
          <label>
            Issuer
            <select value={values.issuer} onChange={(e) => set({ issuer: e.target.value })} required>
              <option value="">Choose…</option>
              {issuers.data?.data.map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}
            </select>
          </label>
          <label>Reason<input value={reason} onChange={(e) => setReason(e.target.value)} required maxLength={500} /></label>
          <label>
            <input type="checkbox" checked={revokeOld} onChange={(e) => setRevokeOld(e.target.checked)} />
            Revoke old serials once replaced (off: renew early only)
          </label>
          <button type="submit" disabled={!values.issuer || !reason || preview.isPending}>Dry run</button>
          <button
            type="button"
            disabled={!values.issuer || !reason || start.isPending}
            onClick={() => confirm.ask({
              title: `Re-issue every active certificate of this issuer${preview.data ? ` (${preview.data.total})` : ''}?`, destructive: true,
              confirmLabel: 'Start drill', onConfirm: () => start.mutate(),
            })}
          >
            Start drill
          </button>
        </form>
        {preview.data && (
          <p role="status" data-testid="reissue-preview">
            {preview.data.total} active certificate{preview.data.total === 1 ? '' : 's'} would be re-issued
            {preview.data.certificates.length ? `: ${preview.data.certificates.slice(0, 10).map((c) => c.name).join(', ')}${preview.data.total > 10 ? ', …' : ''}` : ''}.
            {preview.data.renewed_by_acme_clients.length > 0 && ` Of them, ${preview.data.renewed_by_acme_clients.length} renewed by their ACME clients via ARI.`}
          </p>
        )}
      </Can>
      {values.drill && (
        <QueryState isLoading={progress.isLoading} error={progress.error}>
          {progress.data && (
            <>
              <h2>Drill {progress.data.drill_id} — {progress.data.status}</h2>
              <p className="muted">
                Reason: {progress.data.reason}; {progress.data.revoke_old ? `old serials revoked as ${progress.data.revocation_reason}` : 'renew early: old serials kept'}.
                {progress.data.ari_requested > 0 && ` ${progress.data.ari_requested} certificate(s) of ACME clients asked to renew through ARI (served once the client downloads the new one).`}
              </p>
              <table aria-label="Drill progress" data-testid="reissue-progress">
                <tbody>
                  {COUNTS.map(([key, label]) => (
                    <tr key={key}>
                      <th scope="row">{label}</th>
                      <td>{progress.data[key] as number} / {progress.data.total}</td>
                      <td><progress max={progress.data.total || 1} value={progress.data[key] as number} aria-label={label} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {progress.data.problems.length > 0 && (
                <table aria-label="Problems">
                  <thead><tr><th scope="col">Certificate</th><th scope="col">State</th><th scope="col">Why</th></tr></thead>
                  <tbody>
                    {progress.data.problems.map((p) => (
                      <tr key={p.certificate_id}><td className="mono">{p.certificate_id}</td><td>{p.state}</td><td>{p.error}</td></tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          )}
        </QueryState>
      )}
      {confirm.dialog}
    </section>
  );
}
