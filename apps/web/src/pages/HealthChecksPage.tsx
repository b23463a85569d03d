import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, Fragment, useEffect, useState } from 'react';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { Certificate, Page } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { Field, fieldErrors, formError } from '../components/form';
import { RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { Table } from '../components/table';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';
import { useUrlState } from '../components/url-state';

interface HealthCheck {
  id: string;
  endpoint: string;
  server_name?: string;
  certificate_id?: string | null;
  target_id?: string | null;
  expected_fingerprint?: string;
  observed_fingerprint?: string;
  status: string;
  consecutive_failures?: number;
  response_time_ms?: number;
  last_checked_at?: string | null;
  failure_reason?: string;
  check_interval_seconds?: number;
  acknowledged?: boolean;
  enabled?: boolean;
}

interface Probe {
  id: string;
  status: string;
  response_time_ms?: number;
  fingerprint?: string;
  failure_reason?: string;
  checked_at: string;
}

const STATUSES = ['healthy', 'degraded', 'down', 'cert_mismatch', 'unknown'] as const;

/** The fingerprint the endpoint serves differs from the one it should (the last deployment's). */
function drifted(c: HealthCheck): boolean {
  const norm = (f?: string) => (f ?? '').replace(/:/g, '').toLowerCase();
  return Boolean(c.expected_fingerprint && c.observed_fingerprint && norm(c.expected_fingerprint) !== norm(c.observed_fingerprint));
}

function History({ check }: { check: HealthCheck }) {
  const history = useQuery({ queryKey: ['health-checks', 'history', check.id, check.last_checked_at], queryFn: () => api.get<Probe[]>(`/health-checks/${encodeURIComponent(check.id)}/history`, { limit: 20 }) });
  return (
    <QueryState isLoading={history.isLoading} error={history.error} isEmpty={!history.data?.length} empty="Not probed yet.">
      <ol className="timeline" data-testid={`history-${check.id}`}>
        {history.data?.map((p) => (
          <li key={p.id}>
            <StatusBadge status={p.status} /> <RelativeTime iso={p.checked_at} /> <span className="muted">{p.response_time_ms ?? 0} ms</span>
            {p.failure_reason && <span className="error-text">{p.failure_reason}</span>}
          </li>
        ))}
      </ol>
    </QueryState>
  );
}

/** TLS endpoint health checks: status counts, drift from the deployed certificate, each check's probe history, create, acknowledge, delete. */
export default function HealthChecksPage() {
  useDocumentTitle('Health checks');
  const { values, page, set } = useUrlState(['status', 'certificate_id'] as const);
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const [openHistory, setOpenHistory] = useState<string | null>(null);
  const [form, setForm] = useState<{ endpoint: string; server_name: string; certificate_id: string; check_interval_seconds: string } | null>(null);
  const summary = useQuery({ queryKey: ['health-checks', 'summary'], queryFn: () => api.get<Record<string, number>>('/health-checks/summary'), refetchInterval: 15_000 });
  const list = useQuery({
    queryKey: ['health-checks', 'list', values.status, page],
    queryFn: () => api.get<Page<HealthCheck>>('/health-checks', { status: values.status, page, per_page: 50 }),
    refetchInterval: 15_000,
  });
  // "Monitor its endpoint" on a certificate arrives here with ?certificate_id=: the form opens filled in.
  const fromCert = useQuery({
    queryKey: ['certificates', 'one', values.certificate_id],
    queryFn: () => api.get<Certificate>(`/certificates/${encodeURIComponent(values.certificate_id)}`),
    enabled: Boolean(values.certificate_id),
  });
  useEffect(() => {
    if (fromCert.data) setForm({ endpoint: `${fromCert.data.common_name}:443`, server_name: fromCert.data.common_name, certificate_id: fromCert.data.id, check_interval_seconds: '300' });
  }, [fromCert.data]);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['health-checks'] });
  const create = useMutation({
    mutationFn: () => api.post<HealthCheck>('/health-checks', {
      endpoint: form!.endpoint.trim(),
      server_name: form!.server_name.trim() || undefined,
      certificate_id: form!.certificate_id.trim() || undefined,
      check_interval_seconds: form!.check_interval_seconds ? Number(form!.check_interval_seconds) : undefined,
    }),
    onSuccess: (c) => {
      toast.success(`Health check for ${c.endpoint} created`);
      setForm(null);
      set({ certificate_id: undefined });
      void refresh();
    },
  });
  const acknowledge = useMutation({ mutationFn: (c: HealthCheck) => api.post(`/health-checks/${encodeURIComponent(c.id)}/acknowledge`, {}), onSuccess: () => void refresh(), onError: toast.error });
  const remove = useMutation({
    mutationFn: (c: HealthCheck) => api.delete(`/health-checks/${encodeURIComponent(c.id)}`),
    onSuccess: (_, c) => {
      toast.success(`Health check for ${c.endpoint} deleted`);
      void refresh();
    },
    onError: toast.error,
  });
  const errors = fieldErrors(create.error);
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }
  return (
    <section aria-labelledby="health-title">
      <div className="page-head">
        <h1 id="health-title">Health checks</h1>
        <Can permission="healthcheck.edit">
          <button type="button" className="primary" onClick={() => { create.reset(); setForm({ endpoint: '', server_name: '', certificate_id: '', check_interval_seconds: '300' }); }}>New health check</button>
        </Can>
      </div>
      <ul className="cards" data-testid="health-summary">
        {STATUSES.map((s) => (
          <li key={s} className="card">
            <button type="button" className="link" aria-pressed={values.status === s} onClick={() => set({ status: values.status === s ? undefined : s })}>
              {s.replace('_', ' ')}: <strong>{summary.data?.[s] ?? 0}</strong>
            </button>
          </li>
        ))}
      </ul>
      {form && (
        <form className="card form" aria-label="New health check" onSubmit={submit} noValidate>
          <Field id="hc-endpoint" label="Endpoint (host:port)" error={errors.endpoint}>
            <input id="hc-endpoint" value={form.endpoint} onChange={(e) => setForm({ ...form, endpoint: e.target.value })} />
          </Field>
          <Field id="hc-server-name" label="Server name (SNI)" error={errors.server_name} hint="Defaults to the host when it is a name">
            <input id="hc-server-name" value={form.server_name} onChange={(e) => setForm({ ...form, server_name: e.target.value })} />
          </Field>
          <Field id="hc-certificate" label="Certificate id" error={errors.certificate_id} hint="Its deployments set the fingerprint the endpoint should serve">
            <input id="hc-certificate" value={form.certificate_id} onChange={(e) => setForm({ ...form, certificate_id: e.target.value })} />
          </Field>
          <Field id="hc-interval" label="Seconds between probes" error={errors.check_interval_seconds}>
            <input id="hc-interval" type="number" value={form.check_interval_seconds} onChange={(e) => setForm({ ...form, check_interval_seconds: e.target.value })} />
          </Field>
          {formError(create.error, ['endpoint', 'server_name', 'certificate_id', 'check_interval_seconds']) && (
            <p className="field-error" role="alert">{formError(create.error, ['endpoint', 'server_name', 'certificate_id', 'check_interval_seconds'])}</p>
          )}
          <div className="form-actions">
            <button type="button" onClick={() => { setForm(null); set({ certificate_id: undefined }); }}>Cancel</button>
            <button type="submit" className="primary" disabled={create.isPending}>Create</button>
          </div>
        </form>
      )}
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No health checks.">
        <Table label="Health checks">
          <thead><tr><th scope="col">Endpoint</th><th scope="col">Status</th><th scope="col">Drift</th><th scope="col">Certificate</th><th scope="col">Last probe</th><th scope="col">Failures</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody data-testid="health-rows">
            {list.data?.data.map((c) => (
              <Fragment key={c.id}>
                <tr>
                  <td className="mono">{c.endpoint}</td>
                  <td><StatusBadge status={c.status} /> {c.acknowledged && <span className="muted">acknowledged</span>}</td>
                  <td>{drifted(c) ? <span className="error-text">serves another certificate</span> : c.observed_fingerprint ? 'none' : '—'}</td>
                  <td>{c.certificate_id ? <Link to={`/certificates/${encodeURIComponent(c.certificate_id)}`}>{c.certificate_id}</Link> : '—'}</td>
                  <td><RelativeTime iso={c.last_checked_at} empty="never" /></td>
                  <td>{c.consecutive_failures ?? 0}{c.failure_reason ? <span className="muted"> ({c.failure_reason})</span> : ''}</td>
                  <td className="row-actions">
                    <button type="button" aria-expanded={openHistory === c.id} aria-label={`History of ${c.endpoint}`} onClick={() => setOpenHistory(openHistory === c.id ? null : c.id)}>History</button>
                    <Can permission="healthcheck.acknowledge">
                      {!c.acknowledged && c.status !== 'healthy' && (
                        <button type="button" aria-label={`Acknowledge ${c.endpoint}`} onClick={() => acknowledge.mutate(c)}>Acknowledge</button>
                      )}
                    </Can>
                    <Can permission="healthcheck.delete">
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Delete ${c.endpoint}`}
                        onClick={() => confirm.ask({ title: `Delete the health check of ${c.endpoint}?`, destructive: true, confirmLabel: 'Delete', onConfirm: () => remove.mutate(c) })}
                      >
                        Delete
                      </button>
                    </Can>
                  </td>
                </tr>
                {openHistory === c.id && (
                  <tr><td colSpan={7}><History check={c} /></td></tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={50} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {confirm.dialog}
    </section>
  );
}
