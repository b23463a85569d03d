import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, useState } from 'react';
import { api } from '../api/client';
import type { ApiKey } from '../api/types';
import { Can, useSession } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { Field, fieldErrors, formError } from '../components/form';
import { RelativeTime } from '../components/format';
import { QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';
import { Table } from '../components/table';

const ROLES = ['viewer', 'operator', 'auditor', 'admin', 'agent'];

export default function SettingsPage() {
  useDocumentTitle('Settings');
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <h2>Links</h2>
      <ul>
        <li><a href="/api/docs" target="_blank" rel="noreferrer">API documentation (OpenAPI)</a></li>
        <Can permission="queue.admin"><li><a href="/admin/queues" target="_blank" rel="noreferrer">Queue dashboard</a></li></Can>
      </ul>
      <Can permission="auth.key.list">
        <ApiKeys />
      </Can>
    </section>
  );
}

function ApiKeys() {
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const session = useSession();
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => api.get<{ data: ApiKey[] }>('/auth/keys') });
  const create = useMutation({
    mutationFn: () => api.post<ApiKey & { key: string }>('/auth/keys', { name, role }),
    onSuccess: (k) => {
      setSecret({ name: k.name, key: k.key });
      setName('');
      void queryClient.invalidateQueries({ queryKey: ['api-keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (k: ApiKey) => api.delete(`/auth/keys/${encodeURIComponent(k.id)}`),
    onSuccess: () => {
      toast.success('Key revoked');
      void queryClient.invalidateQueries({ queryKey: ['api-keys'] });
    },
    onError: toast.error,
  });
  const errors = fieldErrors(create.error);
  return (
    <>
      <h2>API keys</h2>
      {secret && (
        <div className="card secret" role="alert">
          <p>
            The key <strong>{secret.name}</strong> is shown this once. Copy it now; only its hash is stored.
          </p>
          <code className="mono" data-testid="new-api-key">{secret.key}</code>
          <button type="button" onClick={() => navigator.clipboard?.writeText(secret.key).then(() => toast.success('Copied'))}>Copy</button>
          <button type="button" onClick={() => setSecret(null)}>Done</button>
        </div>
      )}
      <Can permission="auth.key.create">
      <form className="card form inline" aria-label="New API key" noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); create.mutate(); }}>
        <Field id="key-name" label="Name" error={errors.name}><input id="key-name" value={name} onChange={(e) => setName(e.target.value)} /></Field>
        <Field id="key-role" label="Role" error={errors.role}>
          <select id="key-role" value={role} onChange={(e) => setRole(e.target.value)}>{ROLES.map((r) => <option key={r}>{r}</option>)}</select>
        </Field>
        {formError(create.error, ['name', 'role']) && <p className="field-error" role="alert">{formError(create.error, ['name', 'role'])}</p>}
        <button type="submit" className="primary" disabled={create.isPending}>Create key</button>
      </form>
      </Can>
      <QueryState isLoading={keys.isLoading} error={keys.error} isEmpty={!keys.data?.data.length}>
        <Table label="API keys">
          <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {keys.data?.data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>{k.role}</td>
                <td><RelativeTime iso={k.created_at} /></td>
                <td><RelativeTime iso={k.last_used_at} empty="never" /></td>
                <td><RelativeTime iso={k.expires_at} empty="never" /></td>
                <td>
                  {k.revoked_at ? (
                    <span className="muted">revoked <RelativeTime iso={k.revoked_at} /></span>
                  ) : k.name !== session.actor && session.can('auth.key.delete') ? (
                    <button type="button" className="danger" aria-label={`Revoke key ${k.name}`} onClick={() => confirm.ask({ title: `Revoke key ${k.name}?`, destructive: true, confirmLabel: 'Revoke', onConfirm: () => revoke.mutate(k) })}>
                      Revoke
                    </button>
                  ) : k.name === session.actor ? (
                    <span className="muted">this session</span>
                  ) : null}
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
