import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import type { DiscoveredCertificate, DiscoveryScan, DiscoverySummary, NetworkScanTarget, Page } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { Field, fieldErrors, formError } from '../components/form';
import { Expiry, RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';
import { useTypedFilter, useUrlState } from '../components/url-state';
import { Table } from '../components/table';

const FINISHED_SCAN = new Set(['Completed', 'Failed', 'Cancelled']);

export default function DiscoveryPage() {
  useDocumentTitle('Discovery');
  return (
    <section aria-labelledby="discovery-title">
      <h1 id="discovery-title">Discovery</h1>
      <SummaryCounters />
      <Triage />
      <ScanTargets />
    </section>
  );
}

function SummaryCounters() {
  const summary = useQuery({ queryKey: ['discovery', 'summary'], queryFn: () => api.get<DiscoverySummary>('/discovery-summary'), refetchInterval: 10_000 });
  const s = summary.data;
  return (
    <QueryState isLoading={summary.isLoading} error={summary.error}>
      <ul className="cards" aria-label="Discovery summary">
        {[
          ['Unmanaged', s?.unmanaged],
          ['Managed', s?.managed],
          ['Dismissed', s?.dismissed],
          ['Mismatched', s?.mismatched],
          ['Expiring in 14 days', s?.expiring_within_14_days],
          ['Scans running', s?.scans_running],
        ].map(([label, value]) => (
          <li key={label as string} className="card stat">
            <span className="stat-value">{Number(value ?? 0).toLocaleString()}</span>
            <span className="stat-label">{label}</span>
          </li>
        ))}
      </ul>
    </QueryState>
  );
}

function Triage() {
  const { values, page, set } = useUrlState(['status', 'search'] as const);
  const status = values.status || 'Unmanaged';
  const [search, setSearch] = useTypedFilter(values.search, useCallback((v: string) => set({ search: v }, { replace: true }), [set]));
  const [claiming, setClaiming] = useState<DiscoveredCertificate | null>(null);
  const [managedId, setManagedId] = useState('');
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const list = useQuery({
    queryKey: ['discovery', 'certificates', status, values.search, page],
    queryFn: () => api.get<Page<DiscoveredCertificate>>('/discovered-certificates', { status, search: values.search, page, per_page: 25 }),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['discovery'] });
  const claim = useMutation({
    mutationFn: ({ id, managed }: { id: string; managed: string }) => api.post(`/discovered-certificates/${encodeURIComponent(id)}/claim`, { managed_certificate_id: managed }),
    onSuccess: () => {
      toast.success('Linked to the managed certificate');
      setClaiming(null);
      void refresh();
    },
  });
  const dismiss = useMutation({
    mutationFn: (id: string) => api.post(`/discovered-certificates/${encodeURIComponent(id)}/dismiss`),
    onSuccess: () => {
      toast.success('Dismissed');
      void refresh();
    },
    onError: toast.error,
  });
  const errors = fieldErrors(claim.error);
  return (
    <>
      <h2>Discovered certificates</h2>
      <div className="filters">
        <label>
          Status
          <select value={status} onChange={(e) => set({ status: e.target.value })}>
            {['Unmanaged', 'Managed', 'Dismissed'].map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <label>Search<input type="search" value={search} onChange={(e) => setSearch(e.target.value)} /></label>
      </div>
      {claiming && (
        <form
          className="card form"
          aria-label="Claim discovered certificate"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            claim.mutate({ id: claiming.id, managed: managedId });
          }}
        >
          <p>Link {claiming.common_name || claiming.id} to a managed certificate.</p>
          <Field id="claim-managed" label="Managed certificate id" error={errors.managed_certificate_id}>
            <input id="claim-managed" value={managedId} onChange={(e) => setManagedId(e.target.value)} required />
          </Field>
          {formError(claim.error, ['managed_certificate_id']) && <p className="field-error" role="alert">{formError(claim.error, ['managed_certificate_id'])}</p>}
          <div className="form-actions">
            <button type="button" onClick={() => setClaiming(null)}>Cancel</button>
            <button type="submit" className="primary" disabled={claim.isPending}>Claim</button>
          </div>
        </form>
      )}
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty={`No ${status.toLowerCase()} certificates.`}>
        <Table label="Discovered certificates">
          <thead><tr><th scope="col">Common name</th><th scope="col">Where</th><th scope="col">Issuer</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.data?.data.map((d) => (
              <tr key={d.id}>
                <td>{d.common_name || '—'}</td>
                <td className="mono truncate" title={d.source_path ?? ''}>{d.source_path}</td>
                <td className="truncate" title={d.issuer_dn ?? ''}>{d.issuer_dn}</td>
                <td><Expiry iso={d.not_after} /></td>
                <td><StatusBadge status={d.status} /></td>
                <td className="row-actions">
                  {d.status === 'Unmanaged' && (
                    <Can permission="discovery.claim">
                      <button type="button" onClick={() => { claim.reset(); setManagedId(''); setClaiming(d); }} aria-label={`Claim ${d.common_name || d.id}`}>Claim</button>
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Dismiss ${d.common_name || d.id}`}
                        onClick={() => confirm.ask({ title: `Dismiss ${d.common_name || d.id}?`, confirmLabel: 'Dismiss', destructive: true, onConfirm: () => dismiss.mutate(d.id) })}
                      >
                        Dismiss
                      </button>
                    </Can>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={25} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {confirm.dialog}
    </>
  );
}

/** A running scan's progress, polled until it finishes. */
function ScanProgress({ scanId, onDone, onFinished }: { scanId: string; onDone(): void; onFinished(): void }) {
  const scan = useQuery({
    queryKey: ['discovery', 'scan', scanId],
    queryFn: () => api.get<DiscoveryScan>(`/discovery-scans/${encodeURIComponent(scanId)}`),
    refetchInterval: (q) => (FINISHED_SCAN.has(q.state.data?.status ?? '') ? false : 1000),
  });
  const s = scan.data;
  const total = s?.addresses_total ?? 0;
  const done = s?.addresses_done ?? 0;
  const finished = FINISHED_SCAN.has(s?.status ?? '');
  // A finished scan changed its target's "last scan" and "found", and the counters: ask for them again now.
  useEffect(() => {
    if (finished) onFinished();
  }, [finished, onFinished]);
  return (
    <div className="scan-progress">
      <progress max={total || 1} value={finished ? total || 1 : done} aria-label={`Scan ${scanId} progress`} />
      <span role="status">
        {s?.status ?? 'Starting'} · {done}/{total} addresses · {s?.certificates_found ?? 0} certificates
        {finished && (
          <button type="button" className="link" onClick={onDone}>
            Close
          </button>
        )}
      </span>
    </div>
  );
}

const TARGET_FIELDS = ['name', 'cidrs', 'ports', 'scan_interval_hours'];

function ScanTargets() {
  const [creating, setCreating] = useState(false);
  const [form, setForm] = useState({ name: '', cidrs: '', ports: '443', scan_interval_hours: '6' });
  const [scans, setScans] = useState<Record<string, string>>({});
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const list = useQuery({ queryKey: ['discovery', 'targets'], queryFn: () => api.get<Page<NetworkScanTarget>>('/network-scan-targets', { per_page: 100 }) });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['discovery'] });
  const refreshAll = useCallback(() => void queryClient.invalidateQueries({ queryKey: ['discovery'] }), [queryClient]);
  const create = useMutation({
    mutationFn: () =>
      api.post<NetworkScanTarget>('/network-scan-targets', {
        name: form.name,
        cidrs: form.cidrs.split(/[\s,]+/).filter(Boolean),
        ports: form.ports.split(/[\s,]+/).filter(Boolean).map(Number),
        scan_interval_hours: Number(form.scan_interval_hours),
      }),
    onSuccess: (t) => {
      toast.success(`Scan target ${t.name} created`);
      setCreating(false);
      void refresh();
    },
  });
  const scanNow = useMutation({
    mutationFn: (t: NetworkScanTarget) => api.post<{ scan_id: string }>(`/network-scan-targets/${encodeURIComponent(t.id)}/scan`),
    onSuccess: (r, t) => setScans((all) => ({ ...all, [t.id]: r.scan_id })),
    onError: toast.error,
  });
  const remove = useMutation({
    mutationFn: (t: NetworkScanTarget) => api.delete(`/network-scan-targets/${encodeURIComponent(t.id)}`),
    onSuccess: () => void refresh(),
    onError: toast.error,
  });
  const errors = fieldErrors(create.error);
  return (
    <>
      <div className="page-head">
        <h2>Network scan targets</h2>
        <Can permission="network_scan.edit">
          <button type="button" onClick={() => { create.reset(); setCreating((c) => !c); }} aria-expanded={creating}>New scan target</button>
        </Can>
      </div>
      {creating && (
        <form className="card form" aria-label="New scan target" noValidate onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
          <Field id="scan-name" label="Name" error={errors.name}><input id="scan-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></Field>
          <Field id="scan-cidrs" label="CIDRs" error={errors.cidrs} hint="e.g. 10.0.0.0/24, 192.168.1.10"><input id="scan-cidrs" value={form.cidrs} onChange={(e) => setForm({ ...form, cidrs: e.target.value })} /></Field>
          <Field id="scan-ports" label="Ports" error={errors.ports}><input id="scan-ports" value={form.ports} onChange={(e) => setForm({ ...form, ports: e.target.value })} /></Field>
          <Field id="scan-interval" label="Every (hours)" error={errors.scan_interval_hours}><input id="scan-interval" type="number" value={form.scan_interval_hours} onChange={(e) => setForm({ ...form, scan_interval_hours: e.target.value })} /></Field>
          {formError(create.error, TARGET_FIELDS) && <p className="field-error" role="alert">{formError(create.error, TARGET_FIELDS)}</p>}
          <div className="form-actions">
            <button type="button" onClick={() => setCreating(false)}>Cancel</button>
            <button type="submit" className="primary" disabled={create.isPending}>Create</button>
          </div>
        </form>
      )}
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No scan targets.">
        <Table label="Network scan targets">
          <thead><tr><th scope="col">Name</th><th scope="col">CIDRs</th><th scope="col">Ports</th><th scope="col">Last scan</th><th scope="col">Found</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.data?.data.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td className="mono">{t.cidrs?.join(', ')}</td>
                <td>{t.ports?.join(', ')}</td>
                <td><RelativeTime iso={t.last_scan_at} empty="never" /></td>
                <td>{t.last_scan_certs_found ?? '—'}</td>
                <td className="row-actions">
                  {scans[t.id] ? (
                    <ScanProgress scanId={scans[t.id]!} onFinished={refreshAll} onDone={() => { setScans(({ [t.id]: _, ...rest }) => rest); void refresh(); }} />
                  ) : (
                    <>
                      <Can permission="network_scan.run">
                        <button type="button" onClick={() => scanNow.mutate(t)} aria-label={`Scan now: ${t.name}`}>Scan now</button>
                      </Can>
                      <Can permission="network_scan.edit">
                      <button type="button" className="danger" aria-label={`Delete ${t.name}`} onClick={() => confirm.ask({ title: `Delete scan target ${t.name}?`, destructive: true, confirmLabel: 'Delete', onConfirm: () => remove.mutate(t) })}>Delete</button>
                      </Can>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      </QueryState>
      {confirm.dialog}
    </>
  );
}
