import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ColumnDef, flexRender, getCoreRowModel, RowSelectionState, SortingState, useReactTable } from '@tanstack/react-table';
import { FormEvent, useCallback, useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { api, ApiRequestError } from '../api/client';
import type { Certificate, Page } from '../api/types';
import { Can, useSession } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { Field, fieldErrors, formError } from '../components/form';
import { Expiry, RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';
import { useTypedFilter, useUrlState } from '../components/url-state';
import { Table } from '../components/table';

const PER_PAGE = 50;
const STATUSES = ['Pending', 'Active', 'Expiring', 'Expired', 'RenewalInProgress', 'Failed', 'Revoked', 'Archived'];
export const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn'];
const SORTABLE = new Set(['name', 'common_name', 'status', 'expires_at', 'environment', 'created_at']);

interface BulkResult {
  total_matched: number;
  total_enqueued?: number;
  total_revoked?: number;
  total_skipped?: number;
  total_failed?: number;
}

export default function CertificatesPage() {
  const { values, page, set } = useUrlState(['search', 'status', 'environment', 'issuer_id', 'owner_id', 'team_id', 'profile_id', 'sort'] as const);
  useDocumentTitle('Certificates');
  const [search, setSearch] = useTypedFilter(values.search, useCallback((v: string) => set({ search: v }, { replace: true }), [set]));
  const [environment, setEnvironment] = useTypedFilter(values.environment, useCallback((v: string) => set({ environment: v }, { replace: true }), [set]));
  const [rowSelection, setRowSelection] = useState<RowSelectionState>({});
  const [creating, setCreating] = useState(false);
  const [revokeReason, setRevokeReason] = useState('unspecified');
  const [reassignTo, setReassignTo] = useState({ owner_id: '', team_id: '' });
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const session = useSession();
  // Selection serves the bulk actions: offered when any one of them may be used (each shows by its own permission).
  const canWrite = session.can(['cert.issue', 'cert.bulk_revoke', 'cert.edit'], 'any');

  const query = { search: values.search, status: values.status, environment: values.environment, issuer_id: values.issuer_id, owner_id: values.owner_id, team_id: values.team_id, profile_id: values.profile_id, sort: values.sort || '-created_at', page, per_page: PER_PAGE };
  const list = useQuery({
    queryKey: ['certificates', 'list', query],
    queryFn: () => api.get<Page<Certificate>>('/certificates', query),
    placeholderData: keepPreviousData,
  });
  // The next page is fetched while this one is read, so "Next" shows it from the cache.
  const total = list.data?.total ?? 0;
  useEffect(() => {
    if (page * PER_PAGE >= total) return;
    const next = { ...query, page: page + 1 };
    void queryClient.prefetchQuery({ queryKey: ['certificates', 'list', next], queryFn: () => api.get<Page<Certificate>>('/certificates', next) });
    // `query` is rebuilt on every render from the values listed here.
  }, [queryClient, page, total, values.search, values.status, values.environment, values.issuer_id, values.owner_id, values.team_id, values.profile_id, values.sort]);
  const issuers = useQuery({ queryKey: ['issuers', 'options'], queryFn: () => api.get<Page<{ id: string; name: string }>>('/issuers', { per_page: 500 }) });
  const options = (path: string) => ({ queryKey: [path, 'options'], queryFn: () => api.get<Page<{ id: string; name: string }>>(path, { per_page: 500 }) });
  const owners = useQuery(options('/owners'));
  const teams = useQuery(options('/teams'));
  const profiles = useQuery(options('/profiles'));

  const sorting: SortingState = values.sort ? [{ id: values.sort.replace(/^-/, ''), desc: values.sort.startsWith('-') }] : [];
  const selectedIds = Object.keys(rowSelection).filter((id) => rowSelection[id]);

  const columns = useMemo<ColumnDef<Certificate>[]>(
    () => [
      ...(canWrite
        ? [{
            id: 'select',
            header: ({ table }) => (
              <input type="checkbox" aria-label="Select all on this page" checked={table.getIsAllRowsSelected()} onChange={table.getToggleAllRowsSelectedHandler()} />
            ),
            cell: ({ row }) => (
              <input type="checkbox" aria-label={`Select ${row.original.name}`} checked={row.getIsSelected()} onChange={row.getToggleSelectedHandler()} />
            ),
          } satisfies ColumnDef<Certificate>]
        : []),
      { id: 'name', header: 'Name', cell: ({ row }) => <Link to={`/certificates/${encodeURIComponent(row.original.id)}`}>{row.original.name}</Link> },
      { id: 'common_name', header: 'Common name', cell: ({ row }) => row.original.common_name },
      { id: 'status', header: 'Status', cell: ({ row }) => <StatusBadge status={row.original.status} /> },
      { id: 'expires_at', header: 'Expires', cell: ({ row }) => <Expiry iso={row.original.expires_at} /> },
      { id: 'environment', header: 'Environment', cell: ({ row }) => row.original.environment || '—' },
      { id: 'created_at', header: 'Created', cell: ({ row }) => <RelativeTime iso={row.original.created_at} /> },
    ],
    [canWrite],
  );
  const table = useReactTable({
    data: list.data?.data ?? [],
    columns,
    getCoreRowModel: getCoreRowModel(),
    getRowId: (row) => row.id,
    manualPagination: true,
    manualSorting: true,
    state: { rowSelection, sorting },
    onRowSelectionChange: setRowSelection,
    enableRowSelection: canWrite,
  });

  const done = () => {
    setRowSelection({});
    void queryClient.invalidateQueries({ queryKey: ['certificates'] });
  };
  const bulkRenew = useMutation({
    mutationFn: (ids: string[]) => api.post<BulkResult>('/certificates/bulk-renew', { certificate_ids: ids }),
    onSuccess: (r) => {
      toast.success(`Renewal queued for ${r.total_enqueued ?? 0} of ${r.total_matched} (${r.total_skipped ?? 0} skipped)`);
      done();
    },
    onError: toast.error,
  });
  const bulkRevoke = useMutation({
    mutationFn: (ids: string[]) => api.post<BulkResult>('/certificates/bulk-revoke', { certificate_ids: ids, reason: revokeReason }),
    onSuccess: (r) => {
      toast.success(`${r.total_revoked ?? 0} of ${r.total_matched} revoked (${r.total_failed ?? 0} failed)`);
      done();
    },
    onError: (err) => toast.error(err instanceof ApiRequestError && err.status === 404 ? new Error('Bulk revoke is not available on this server') : err),
  });

  const bulkReassign = useMutation({
    mutationFn: (ids: string[]) => api.post<{ total_reassigned?: number; total_matched?: number }>('/certificates/bulk-reassign', {
      certificate_ids: ids, owner_id: reassignTo.owner_id, team_id: reassignTo.team_id || undefined,
    }),
    onSuccess: (r) => {
      toast.success(`${r.total_reassigned ?? 0} certificates reassigned`);
      done();
    },
    onError: toast.error,
  });

  function toggleSort(id: string) {
    if (!SORTABLE.has(id)) return;
    const current = values.sort || '-created_at';
    set({ sort: current === id ? `-${id}` : id });
  }

  return (
    <section aria-labelledby="certificates-title">
      <div className="page-head">
        <h1 id="certificates-title">Certificates</h1>
        <Can permission="cert.issue" scope="any">
          <button type="button" className="primary" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
            New certificate
          </button>
        </Can>
      </div>
      {creating && <CreateCertificateForm onDone={() => setCreating(false)} issuers={issuers.data?.data ?? []} />}
      <div className="filters" role="search">
        <label>
          Search
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="name, common name, SAN…" />
        </label>
        <label>
          Status
          <select value={values.status} onChange={(e) => set({ status: e.target.value })}>
            <option value="">Any</option>
            {STATUSES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <label>
          Environment
          <input value={environment} onChange={(e) => setEnvironment(e.target.value)} placeholder="prod, staging…" />
        </label>
        <label>
          Issuer
          <select value={values.issuer_id} onChange={(e) => set({ issuer_id: e.target.value })}>
            <option value="">Any</option>
            {issuers.data?.data.map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}
          </select>
        </label>
        {([['owner_id', 'Owner', owners.data?.data], ['team_id', 'Team', teams.data?.data], ['profile_id', 'Profile', profiles.data?.data]] as const).map(([key, label, list]) => (
          <label key={key}>
            {label}
            <select value={values[key]} onChange={(e) => set({ [key]: e.target.value })}>
              <option value="">Any</option>
              {list?.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
            </select>
          </label>
        ))}
      </div>
      {selectedIds.length > 0 && (
        <div className="bulk-bar" role="region" aria-label="Bulk actions">
          <span>{selectedIds.length} selected</span>
          <Can permission="cert.issue" scope="any">
          <button type="button" onClick={() => bulkRenew.mutate(selectedIds)} disabled={bulkRenew.isPending}>
            Renew selected
          </button>
          </Can>
          <Can permission="cert.bulk_revoke" scope="any">
          <label>
            Reason
            <select value={revokeReason} onChange={(e) => setRevokeReason(e.target.value)}>
              {REVOCATION_REASONS.map((r) => <option key={r}>{r}</option>)}
            </select>
          </label>
          <button
            type="button"
            className="danger"
            onClick={() =>
              confirm.ask({
                title: `Revoke ${selectedIds.length} certificates?`,
                destructive: true,
                confirmLabel: 'Revoke',
                children: <p>Revocation cannot be undone. Reason: {revokeReason}.</p>,
                onConfirm: () => bulkRevoke.mutate(selectedIds),
              })
            }
          >
            Revoke selected
          </button>
          </Can>
          <Can permission="cert.edit" scope="any">
          <label>
            New owner
            <select value={reassignTo.owner_id} onChange={(e) => setReassignTo({ ...reassignTo, owner_id: e.target.value })}>
              <option value="">Choose…</option>
              {owners.data?.data.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
            </select>
          </label>
          <label>
            New team
            <select value={reassignTo.team_id} onChange={(e) => setReassignTo({ ...reassignTo, team_id: e.target.value })}>
              <option value="">(unchanged)</option>
              {teams.data?.data.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
            </select>
          </label>
          <button type="button" onClick={() => bulkReassign.mutate(selectedIds)} disabled={!reassignTo.owner_id || bulkReassign.isPending}>
            Reassign selected
          </button>
          </Can>
        </div>
      )}
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={(list.data?.data.length ?? 0) === 0} empty="No certificates match.">
        <Table label="Certificates" aria-busy={list.isFetching}>
          <thead>
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((header) => {
                  const sorted = sorting.find((s) => s.id === header.id);
                  return (
                    <th key={header.id} scope="col" aria-sort={sorted ? (sorted.desc ? 'descending' : 'ascending') : undefined}>
                      {SORTABLE.has(header.id) ? (
                        <button type="button" className="sort" onClick={() => toggleSort(header.id)}>
                          {flexRender(header.column.columnDef.header, header.getContext())}
                          {sorted ? (sorted.desc ? ' ▼' : ' ▲') : ''}
                        </button>
                      ) : (
                        flexRender(header.column.columnDef.header, header.getContext())
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody data-testid="certificate-rows">
            {table.getRowModel().rows.map((row) => (
              <tr key={row.id}>
                {row.getVisibleCells().map((cell) => (
                  <td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={PER_PAGE} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {confirm.dialog}
    </section>
  );
}

const CERT_FIELDS = ['name', 'common_name', 'sans', 'environment', 'owner_id', 'issuer_id', 'target_ids'] as const;
type CertForm = { name: string; common_name: string; sans: string; environment: string; owner_id: string; issuer_id: string; target_id: string };

/** What is missing from the form, said for people (the API's own wording is for clients). */
export function missingCertificateFields(form: CertForm): Record<string, string> {
  const problems: Record<string, string> = {};
  if (!form.name.trim()) problems.name = 'Give the certificate a name, e.g. "www-prod".';
  if (!form.common_name.trim()) problems.common_name = 'Enter the domain name the certificate is for, e.g. www.example.com.';
  if (!form.owner_id) problems.owner_id = 'Choose who owns this certificate (alerts go to them).';
  if (!form.issuer_id) problems.issuer_id = 'Choose the issuer that will sign it.';
  return problems;
}

/** The API's field messages, reworded where they describe an input rather than a problem a person can fix. */
function friendlyFieldErrors(err: unknown): Record<string, string> {
  const raw = fieldErrors(err);
  const out: Record<string, string> = {};
  for (const [field, message] of Object.entries(raw)) {
    if (field === 'owner_id') out[field] = 'Choose an owner from the list.';
    else if (field === 'issuer_id') out[field] = 'Choose an issuer from the list.';
    else if (field === 'common_name') out[field] = `This is not a valid domain name (${message}).`;
    else if (field === 'sans') out[field] = `One of the extra names is not valid (${message}).`;
    else out[field] = message.charAt(0).toUpperCase() + message.slice(1);
  }
  return out;
}

/**
 * A new certificate starts Pending: nothing is issued until a renewal job runs. "Create and issue" (the
 * default) creates it and starts that job at once; "Create only" leaves it Pending, and the form says so.
 */
function CreateCertificateForm({ onDone, issuers }: { onDone(): void; issuers: Array<{ id: string; name: string }> }) {
  const owners = useQuery({ queryKey: ['owners', 'options'], queryFn: () => api.get<Page<{ id: string; name: string }>>('/owners', { per_page: 500 }) });
  const targets = useQuery({ queryKey: ['targets', 'options'], queryFn: () => api.get<Page<{ id: string; name: string }>>('/targets', { per_page: 500 }) });
  const [form, setForm] = useState<CertForm>({ name: '', common_name: '', sans: '', environment: '', owner_id: '', issuer_id: '', target_id: '' });
  const [missing, setMissing] = useState<Record<string, string>>({});
  const queryClient = useQueryClient();
  const toast = useToast();
  const create = useMutation({
    mutationFn: async (issue: boolean) => {
      const cert = await api.post<Certificate>('/certificates', {
        name: form.name.trim(),
        common_name: form.common_name.trim(),
        sans: form.sans.split(/[\s,]+/).filter(Boolean),
        environment: form.environment || undefined,
        owner_id: form.owner_id,
        issuer_id: form.issuer_id,
        target_ids: form.target_id ? [form.target_id] : undefined,
      });
      if (!issue) return { cert, issued: false };
      try {
        await api.post(`/certificates/${encodeURIComponent(cert.id)}/renew`);
        return { cert, issued: true };
      } catch (err) {
        toast.error(new Error(`Certificate ${cert.name} was created but issuing it did not start: ${(err as Error).message}`));
        return { cert, issued: false };
      }
    },
    onSuccess: ({ cert, issued }) => {
      toast.success(issued ? `Certificate ${cert.name} created; issuing it now` : `Certificate ${cert.name} created (Pending: use Renew on it to issue)`);
      void queryClient.invalidateQueries({ queryKey: ['certificates'] });
      onDone();
    },
  });
  const errors = { ...friendlyFieldErrors(create.error), ...missing };
  const update = (k: keyof CertForm) => (e: { target: { value: string } }) => {
    setForm({ ...form, [k]: e.target.value });
    if (missing[k]) setMissing(({ [k]: _, ...rest }) => rest);
  };
  function submit(issue: boolean) {
    const problems = missingCertificateFields(form);
    setMissing(problems);
    if (Object.keys(problems).length) {
      create.reset();
      document.getElementById(`cert-${FIELD_INPUT[Object.keys(problems)[0]!]}`)?.focus();
      return;
    }
    create.mutate(issue);
  }
  return (
    <form className="card form" onSubmit={(e: FormEvent) => { e.preventDefault(); submit(true); }} aria-label="New certificate" noValidate>
      <p className="form-note muted" id="cert-issue-note">
        A new certificate is issued by a renewal job. <strong>Create and issue</strong> starts it now; <strong>Create only</strong> leaves
        the certificate Pending until you renew it.
      </p>
      <Field id="cert-name" label="Name" error={errors.name}>
        <input id="cert-name" value={form.name} onChange={update('name')} required />
      </Field>
      <Field id="cert-cn" label="Common name" error={errors.common_name}>
        <input id="cert-cn" value={form.common_name} onChange={update('common_name')} required />
      </Field>
      <Field id="cert-sans" label="SANs" error={errors.sans} hint="Separated by spaces or commas">
        <input id="cert-sans" value={form.sans} onChange={update('sans')} />
      </Field>
      <Field id="cert-env" label="Environment" error={errors.environment}>
        <input id="cert-env" value={form.environment} onChange={update('environment')} />
      </Field>
      <Field id="cert-owner" label="Owner" error={errors.owner_id}>
        <select id="cert-owner" value={form.owner_id} onChange={update('owner_id')} required>
          <option value="">Choose…</option>
          {owners.data?.data.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
        </select>
      </Field>
      <Field id="cert-issuer" label="Issuer" error={errors.issuer_id}>
        <select id="cert-issuer" value={form.issuer_id} onChange={update('issuer_id')} required>
          <option value="">Choose…</option>
          {issuers.map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}
        </select>
      </Field>
      <Field id="cert-target" label="Deploy to target (optional)" error={errors.target_ids}>
        <select id="cert-target" value={form.target_id} onChange={update('target_id')}>
          <option value="">None</option>
          {targets.data?.data.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
        </select>
      </Field>
      {formError(create.error, CERT_FIELDS) && <p className="field-error" role="alert">{formError(create.error, CERT_FIELDS)}</p>}
      <div className="form-actions">
        <button type="button" onClick={onDone}>Cancel</button>
        <button type="button" onClick={() => submit(false)} disabled={create.isPending} aria-describedby="cert-issue-note">Create only</button>
        <button type="submit" className="primary" disabled={create.isPending} aria-describedby="cert-issue-note">Create and issue</button>
      </div>
    </form>
  );
}

const FIELD_INPUT: Record<string, string> = { name: 'name', common_name: 'cn', owner_id: 'owner', issuer_id: 'issuer' };
