import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, ReactNode, useState } from 'react';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { Page } from '../api/types';
import { Can, ResourcePermissions, resourceWhere } from '../auth/session';
import { ConfirmButton, useConfirm } from './confirm';
import { Field, fieldErrors, formError } from './form';
import { RelativeTime } from './format';
import { Pager, QueryState } from './query-state';
import { useDocumentTitle } from './title';
import { useToast } from './toasts';
import { useUrlState } from './url-state';
import { Table } from './table';

export interface SimpleRow {
  id: string;
  name: string;
  created_at?: string;
  [field: string]: unknown;
}

/** One input of a create/edit form; `list` is comma- or space-separated text sent as an array, `json` an object. */
export interface SimpleField {
  name: string;
  label: string;
  kind?: 'text' | 'number' | 'checkbox' | 'select' | 'list' | 'json';
  options?: readonly string[];
  hint?: string;
}

export interface SimpleColumn {
  label: string;
  render(row: SimpleRow): ReactNode;
}

type FormValues = Record<string, string | boolean>;

function toForm(fields: SimpleField[], row?: SimpleRow): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const v = row?.[f.name];
    if (f.kind === 'checkbox') out[f.name] = v === undefined ? f.name === 'enabled' : Boolean(v);
    else if (f.kind === 'list') out[f.name] = Array.isArray(v) ? v.join(', ') : '';
    else if (f.kind === 'json') out[f.name] = v === undefined || v === null ? '{}' : JSON.stringify(v, null, 2);
    else if (f.kind === 'select') out[f.name] = v === undefined || v === null ? f.options?.[0] ?? '' : String(v);
    else out[f.name] = v === undefined || v === null ? '' : String(v);
  }
  return out;
}

/** The request body; a JSON field that does not parse is reported on that field, not sent. */
function toBody(fields: SimpleField[], form: FormValues): { body: Record<string, unknown>; problems: Record<string, string> } {
  const body: Record<string, unknown> = {};
  const problems: Record<string, string> = {};
  for (const f of fields) {
    const v = form[f.name];
    if (f.kind === 'checkbox') body[f.name] = Boolean(v);
    else if (f.kind === 'list') body[f.name] = String(v).split(/[\s,]+/).filter(Boolean);
    else if (f.kind === 'number') {
      if (String(v).trim() !== '') body[f.name] = Number(v);
    } else if (f.kind === 'json') {
      try {
        body[f.name] = JSON.parse(String(v) || '{}');
      } catch {
        problems[f.name] = 'This is not valid JSON, e.g. {"domains": ["example.com"]}.';
      }
    } else if (String(v).trim() !== '' || f.name === 'name') body[f.name] = String(v).trim();
  }
  return { body, problems };
}

/**
 * A list with create, edit and delete for the API's plain resources (policies, profiles, owners). A key without
 * write access sees the list only: the server refuses its changes anyway.
 */
export function SimpleResourcePage({ title, path, kind, intro, columns, fields, detailPath, permissions }: {
  title: string;
  /** Which permissions show its create, edit and delete buttons. */
  permissions: ResourcePermissions;
  path: string;
  kind: string;
  intro?: ReactNode;
  columns: SimpleColumn[];
  fields: SimpleField[];
  /** Where a row's name links to (`${detailPath}/${id}`), when the resource has a detail page. */
  detailPath?: string;
}) {
  useDocumentTitle(title);
  const { page, set } = useUrlState([] as const);
  const [editing, setEditing] = useState<SimpleRow | 'new' | null>(null);
  const [form, setForm] = useState<FormValues>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const list = useQuery({ queryKey: [path, 'list', page], queryFn: () => api.get<Page<SimpleRow>>(path, { page, per_page: 50 }) });
  const refresh = () => queryClient.invalidateQueries({ queryKey: [path] });
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      editing && editing !== 'new' ? api.put<SimpleRow>(`${path}/${encodeURIComponent(editing.id)}`, body) : api.post<SimpleRow>(path, body),
    onSuccess: (r) => {
      // An edit of an approval-gated profile answers 202 with the approval request it opened, not the row.
      if ('approval_kind' in r) toast.success(`Edit of ${kind} ${editing && editing !== 'new' ? editing.name : ''} waits for approval by someone else (request ${r.id})`);
      else toast.success(`${kind} ${r.name} saved`);
      setEditing(null);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (r: SimpleRow) => api.delete(`${path}/${encodeURIComponent(r.id)}`),
    onSuccess: (_, r) => {
      toast.success(`${kind} ${r.name} deleted`);
      void refresh();
    },
    onError: toast.error,
  });
  function open(row: SimpleRow | 'new') {
    save.reset();
    setProblems({});
    setForm(toForm(fields, row === 'new' ? undefined : row));
    setEditing(row);
  }
  function submit(e: FormEvent) {
    e.preventDefault();
    const { body, problems: found } = toBody(fields, form);
    setProblems(found);
    if (Object.keys(found).length === 0) save.mutate(body);
  }
  const errors = { ...fieldErrors(save.error), ...problems };
  const slug = kind.replace(/\s+/g, '-');
  const formId = `${slug}-form`;
  return (
    <section aria-labelledby={`${slug}-title`}>
      <div className="page-head">
        <h1 id={`${slug}-title`}>{title}</h1>
        <Can permission={permissions.edit} scope={resourceWhere(permissions)}>
          <button type="button" className="primary" onClick={() => open('new')}>New {kind}</button>
        </Can>
      </div>
      {intro && <p className="muted">{intro}</p>}
      {editing && (
        <form className="card form" aria-label={editing === 'new' ? `New ${kind}` : `Edit ${kind} ${editing.name}`} onSubmit={submit} noValidate>
          {fields.map((f) => {
            const id = `${formId}-${f.name}`;
            const value = form[f.name];
            return (
              <Field key={f.name} id={id} label={f.label} error={errors[f.name]} hint={f.hint}>
                {f.kind === 'checkbox' ? (
                  <input id={id} type="checkbox" checked={Boolean(value)} onChange={(e) => setForm({ ...form, [f.name]: e.target.checked })} />
                ) : f.kind === 'select' ? (
                  <select id={id} value={String(value)} onChange={(e) => setForm({ ...form, [f.name]: e.target.value })}>
                    {f.options?.map((o) => <option key={o}>{o}</option>)}
                  </select>
                ) : f.kind === 'json' ? (
                  <textarea id={id} rows={4} className="mono" value={String(value)} onChange={(e) => setForm({ ...form, [f.name]: e.target.value })} />
                ) : (
                  <input id={id} type={f.kind === 'number' ? 'number' : 'text'} value={String(value ?? '')} onChange={(e) => setForm({ ...form, [f.name]: e.target.value })} />
                )}
              </Field>
            );
          })}
          {formError(save.error, fields.map((f) => f.name)) && <p className="field-error" role="alert">{formError(save.error, fields.map((f) => f.name))}</p>}
          <div className="form-actions">
            <button type="button" onClick={() => setEditing(null)}>Cancel</button>
            <button type="submit" className="primary" disabled={save.isPending}>Save</button>
          </div>
        </form>
      )}
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty={`No ${kind}s yet.`}>
        <>
          <Table label={title}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                {columns.map((c) => <th key={c.label} scope="col">{c.label}</th>)}
                <th scope="col">Created</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody data-testid={`${slug}-rows`}>
              {list.data?.data.map((r) => (
                <tr key={r.id}>
                  <td>{detailPath ? <Link to={`${detailPath}/${encodeURIComponent(r.id)}`}>{r.name}</Link> : r.name}</td>
                  {columns.map((c) => <td key={c.label}>{c.render(r)}</td>)}
                  <td><RelativeTime iso={r.created_at} /></td>
                  <td className="row-actions">
                    <Can permission={permissions.edit} scope={resourceWhere(permissions, r.id)}>
                      <button type="button" onClick={() => open(r)} aria-label={`Edit ${r.name}`}>Edit</button>
                    </Can>
                    <Can permission={permissions.delete} scope={resourceWhere(permissions, r.id)}>
                      <ConfirmButton ask={confirm.ask} label="Delete" ariaLabel={`Delete ${r.name}`} title={`Delete ${kind} ${r.name}?`} onConfirm={() => remove.mutate(r)} />
                    </Can>
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
        <Pager page={page} perPage={50} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {confirm.dialog}
    </section>
  );
}
