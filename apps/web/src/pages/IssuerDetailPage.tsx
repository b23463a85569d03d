import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ReactNode, useState } from 'react';
import { useConfirm } from '../components/confirm';
import { Field, fieldErrors, formError } from '../components/form';
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
  subject?: string;
  state?: string;
  not_after?: string | null;
  parent_ca_id?: string | null;
}

/** The CA hierarchy under the issuer's root: each intermediate under its parent, with create (under any) and retire. */
function IntermediateTree({ issuerId, all }: { issuerId: string; all: Intermediate[] }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const [form, setForm] = useState<{ name: string; parent_ca_id: string; validity_days: string } | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['/issuers', 'intermediates', issuerId] });
  const create = useMutation({
    mutationFn: () => api.post<Intermediate>(`/issuers/${encodeURIComponent(issuerId)}/intermediates`, {
      name: form!.name.trim(), parent_ca_id: form!.parent_ca_id || undefined, validity_days: form!.validity_days ? Number(form!.validity_days) : undefined,
    }),
    onSuccess: (m) => {
      toast.success(`Intermediate CA ${m.name} created`);
      setForm(null);
      void refresh();
    },
  });
  const retire = useMutation({
    mutationFn: (m: Intermediate) => api.post(`/intermediates/${encodeURIComponent(m.id)}/retire`, {}),
    onSuccess: (_, m) => {
      toast.success(`Intermediate CA ${m.name} retired`);
      void refresh();
    },
    onError: toast.error,
  });
  const children = (parent: string | null): Intermediate[] => all.filter((m) => (m.parent_ca_id ?? null) === parent);
  const branch = (parent: string | null): ReactNode => {
    const kids = children(parent);
    if (!kids.length) return null;
    return (
      <ul className="tree">
        {kids.map((m) => (
          <li key={m.id} data-testid={`intermediate-${m.name}`}>
            <span>{m.name ?? m.id}</span> <StatusBadge status={m.state} /> <span className="muted">expires <RelativeTime iso={m.not_after} /></span>{' '}
            {m.state !== 'retired' && (
              <Can permission="ca.hierarchy.manage">
                <button type="button" aria-label={`Retire ${m.name}`} onClick={() => confirm.ask({ title: `Retire intermediate CA ${m.name}?`, destructive: true, confirmLabel: 'Retire', children: <p>It stops signing; what it issued stays valid until it expires or is revoked.</p>, onConfirm: () => retire.mutate(m) })}>
                  Retire
                </button>
              </Can>
            )}
            {branch(m.id)}
          </li>
        ))}
      </ul>
    );
  };
  const errors = fieldErrors(create.error);
  return (
    <>
      <Can permission="ca.hierarchy.manage" scope={{ type: 'issuer', id: issuerId }}>
        <button type="button" onClick={() => { create.reset(); setForm({ name: '', parent_ca_id: '', validity_days: '' }); }}>New intermediate CA</button>
      </Can>
      {form && (
        <form className="card form" aria-label="New intermediate CA" onSubmit={(e) => { e.preventDefault(); create.mutate(); }} noValidate>
          <Field id="int-name" label="Name" error={errors.name}>
            <input id="int-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
          </Field>
          <Field id="int-parent" label="Parent" error={errors.parent_ca_id}>
            <select id="int-parent" value={form.parent_ca_id} onChange={(e) => setForm({ ...form, parent_ca_id: e.target.value })}>
              <option value="">The issuer's root</option>
              {all.filter((m) => m.state !== 'retired').map((m) => <option key={m.id} value={m.id}>{m.name}</option>)}
            </select>
          </Field>
          <Field id="int-validity" label="Validity (days)" error={errors.validity_days} hint="Capped at the parent's end; default 1825">
            <input id="int-validity" type="number" value={form.validity_days} onChange={(e) => setForm({ ...form, validity_days: e.target.value })} />
          </Field>
          {formError(create.error, ['name', 'parent_ca_id', 'validity_days']) && <p className="field-error" role="alert">{formError(create.error, ['name', 'parent_ca_id', 'validity_days'])}</p>}
          <div className="form-actions">
            <button type="button" onClick={() => setForm(null)}>Cancel</button>
            <button type="submit" className="primary" disabled={create.isPending}>Create</button>
          </div>
        </form>
      )}
      {all.length ? <div data-testid="intermediate-tree"><p className="muted">Root (the issuer's own CA)</p>{branch(null)}</div> : <p className="state state-empty">No intermediate CAs under this issuer.</p>}
      {confirm.dialog}
    </>
  );
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
              <Can permission="issuer.edit" scope={{ type: 'issuer', id: i.id }}>
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
      <QueryState isLoading={intermediates.isLoading} error={intermediates.error instanceof ApiRequestError && intermediates.error.status < 500 ? null : intermediates.error}>
        {intermediates.error instanceof ApiRequestError && intermediates.error.status < 500 ? (
          <p className="state state-empty">This issuer type has no intermediate CAs here.</p>
        ) : (
          <IntermediateTree issuerId={id} all={intermediates.data?.data ?? []} />
        )}
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
