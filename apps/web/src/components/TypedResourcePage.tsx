import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { Page } from '../api/types';
import { Can, ResourcePermissions, resourceWhere } from '../auth/session';
import { ConfirmButton, useConfirm } from './confirm';
import { RelativeTime, StatusBadge } from './format';
import { Pager, QueryState } from './query-state';
import { useToast } from './toasts';
import { ConfigFieldSpec, TypedForm, TypedFormValue } from './typed-form';
import { useDocumentTitle } from './title';
import { useUrlState } from './url-state';
import { Table } from './table';

interface Resource {
  id: string;
  name: string;
  type: string;
  config?: Record<string, unknown> | null;
  test_status?: string | null;
  last_tested_at?: string | null;
  created_at?: string;
}

/** Issuers and targets: a list, typed create/edit forms, a test button and delete (with confirmation). */
export function TypedResourcePage({ title, path, kind, types, testLabel, detailPath, permissions }: {
  title: string;
  /** Which permissions show its create, test, edit and delete buttons. */
  permissions: ResourcePermissions;
  /** Where a row's name links to (`${detailPath}/${id}`), when the resource has a detail page. */
  detailPath?: string;
  path: string;
  kind: string;
  types: Record<string, ConfigFieldSpec[]>;
  testLabel: string;
}) {
  const { values, page, set } = useUrlState(['type'] as const);
  const [editing, setEditing] = useState<Resource | 'new' | null>(null);
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  useDocumentTitle(title);
  const list = useQuery({ queryKey: [path, 'list', values.type, page], queryFn: () => api.get<Page<Resource>>(path, { type: values.type, page, per_page: 50 }) });
  const refresh = () => queryClient.invalidateQueries({ queryKey: [path] });

  const save = useMutation({
    mutationFn: (v: TypedFormValue) =>
      editing && editing !== 'new' ? api.put<Resource>(`${path}/${encodeURIComponent(editing.id)}`, { name: v.name, config: v.config }) : api.post<Resource>(path, v),
    onSuccess: (r) => {
      toast.success(`${kind} ${r.name} saved`);
      setEditing(null);
      void refresh();
    },
  });
  const test = useMutation({
    mutationFn: (r: Resource) => api.post<{ status?: string; message?: string }>(`${path}/${encodeURIComponent(r.id)}/test`),
    onSuccess: (result, r) => {
      const text = `${r.name}: ${result.status ?? 'done'}${result.message ? ` — ${result.message}` : ''}`;
      if (result.status === 'failed' || result.status === 'failure') toast.error(new Error(text));
      else toast.success(text);
      void refresh();
    },
    onError: toast.error,
  });
  const remove = useMutation({
    mutationFn: (r: Resource) => api.delete(`${path}/${encodeURIComponent(r.id)}`),
    onSuccess: () => {
      toast.success(`${kind} deleted`);
      void refresh();
    },
    onError: toast.error,
  });

  return (
    <section aria-labelledby={`${kind}-title`}>
      <div className="page-head">
        <h1 id={`${kind}-title`}>{title}</h1>
        <Can permission={permissions.edit} scope={resourceWhere(permissions)}>
          <button type="button" className="primary" onClick={() => { save.reset(); setEditing('new'); }}>
            New {kind}
          </button>
        </Can>
      </div>
      {editing && (
        <TypedForm
          key={editing === 'new' ? 'new' : editing.id}
          kind={kind}
          types={types}
          initial={editing === 'new' ? undefined : { name: editing.name, type: editing.type, config: editing.config ?? {} }}
          typeLocked={editing !== 'new'}
          error={save.error}
          busy={save.isPending}
          onSubmit={(v) => save.mutate(v)}
          onCancel={() => setEditing(null)}
        />
      )}
      <div className="filters">
        <label>
          Type
          <select value={values.type} onChange={(e) => set({ type: e.target.value })}>
            <option value="">Any</option>
            {Object.keys(types).map((t) => <option key={t}>{t}</option>)}
          </select>
        </label>
      </div>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty={`No ${kind}s yet.`}>
        <Table label={title}>
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Last test</th><th scope="col">Created</th><th scope="col"><span className="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {list.data?.data.map((r) => (
              <tr key={r.id}>
                <td>{detailPath ? <Link to={`${detailPath}/${encodeURIComponent(r.id)}`}>{r.name}</Link> : r.name}</td>
                <td>{r.type}</td>
                <td>{r.test_status ? <StatusBadge status={r.test_status} /> : <span className="muted">never</span>} <RelativeTime iso={r.last_tested_at} empty="" /></td>
                <td><RelativeTime iso={r.created_at} /></td>
                <td className="row-actions">
                  <Can permission={permissions.edit} scope={resourceWhere(permissions, r.id)}>
                    <button type="button" onClick={() => test.mutate(r)} disabled={test.isPending} aria-label={`${testLabel} ${r.name}`}>{testLabel}</button>
                    <button type="button" onClick={() => { save.reset(); setEditing(r); }} aria-label={`Edit ${r.name}`}>Edit</button>
                  </Can>
                  <Can permission={permissions.delete} scope={resourceWhere(permissions, r.id)}>
                    <ConfirmButton ask={confirm.ask} label="Delete" ariaLabel={`Delete ${r.name}`} title={`Delete ${kind} ${r.name}?`} onConfirm={() => remove.mutate(r)} />
                  </Can>
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={50} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {confirm.dialog}
    </section>
  );
}
