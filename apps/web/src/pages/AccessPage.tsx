import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, useState } from 'react';
import { api, ApiRequestError } from '../api/client';
import type { ApiKey, Page } from '../api/types';
import { Can, useSession } from '../auth/session';
import { ConfirmButton, useConfirm } from '../components/confirm';
import { Field, fieldErrors, formError } from '../components/form';
import { RelativeTime } from '../components/format';
import { QueryState } from '../components/query-state';
import { Table } from '../components/table';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';

/** GET /auth/roles: built-in roles are read-only; custom ones are edited here. */
interface Role { id: string; name: string; description: string; built_in: boolean; permissions: string[] }
interface Grant { id: string; role_id: string; role_name: string; scope_type: string; scope_id: string | null; expires_at: string | null; granted_by: string; created_at: string }
interface GroupMapping { id: string; provider_id: string; group_name: string; role: string; role_id: string; scope_type: string; scope_id?: string | null; expires_at?: string | null; created_at: string }
interface OidcProvider { id: string; name: string }
interface User { id: string; email?: string | null; display_name?: string | null; oidc_subject: string; deactivated_at?: string | null }

type ScopeType = 'global' | 'team' | 'issuer' | 'profile';
const SCOPE_TYPES: ScopeType[] = ['global', 'team', 'issuer', 'profile'];
const SCOPE_LISTS: Record<Exclude<ScopeType, 'global'>, string> = { team: '/teams', issuer: '/issuers', profile: '/profiles' };

/** An API error in words a person reads: what was refused and why, without codes. */
function plainError(err: unknown): string {
  if (err instanceof ApiRequestError) {
    if (err.status === 403) return `You are not allowed to do this: ${err.message}.`;
    if (err.status === 404) return `It no longer exists: ${err.message}.`;
    if (err.status === 409) return `That conflicts with what is there: ${err.message}.`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Roles, who holds them where, and which provider groups grant them: an admin's page; others see what they may list. */
export default function AccessPage() {
  useDocumentTitle('Access');
  const session = useSession();
  return (
    <section aria-labelledby="access-title">
      <h1 id="access-title">Access</h1>
      <p className="muted">
        A role is a set of permissions. It is granted to an API key, a user or a provider group, everywhere (global) or within one team, issuer or
        profile, optionally until a date. Removing a grant or a group mapping ends the sessions that needed it.
      </p>
      {session.can('auth.role.list') ? (
        <>
          <Roles />
          <Grants />
        </>
      ) : (
        <p className="state state-empty">You may not list roles or grants.</p>
      )}
      <Can permission="auth.oidc.list"><GroupMappings /></Can>
    </section>
  );
}

function useRoles() {
  return useQuery({ queryKey: ['access', 'roles'], queryFn: () => api.get<{ roles: Role[] }>('/auth/roles') });
}

/** Where a grant applies, named: "global" or "team Payments". */
function useScopeNames() {
  const lists = {
    team: useQuery({ queryKey: ['/teams', 'options'], queryFn: () => api.get<Page<{ id: string; name: string }>>('/teams', { per_page: 500 }) }),
    issuer: useQuery({ queryKey: ['/issuers', 'options'], queryFn: () => api.get<Page<{ id: string; name: string }>>('/issuers', { per_page: 500 }) }),
    profile: useQuery({ queryKey: ['/profiles', 'options'], queryFn: () => api.get<Page<{ id: string; name: string }>>('/profiles', { per_page: 500 }) }),
  };
  const describe = (type: string, id?: string | null) => {
    if (type === 'global' || !id) return 'global';
    const name = lists[type as keyof typeof lists]?.data?.data.find((r) => r.id === id)?.name;
    return `${type} ${name ?? id}`;
  };
  return { lists, describe };
}

function Roles() {
  const roles = useRoles();
  const permissions = useQuery({
    queryKey: ['access', 'permissions'],
    queryFn: () => api.get<{ permissions: Array<{ name: string; description: string }> }>('/auth/permissions'),
  });
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const [editing, setEditing] = useState<Role | 'new' | null>(null);
  const [form, setForm] = useState({ name: '', description: '', permissions: new Set<string>() });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['access'] });
  const save = useMutation({
    mutationFn: () => {
      const body = { name: form.name.trim(), description: form.description, permissions: [...form.permissions].sort() };
      return editing && editing !== 'new' ? api.put<Role>(`/auth/roles/${encodeURIComponent(editing.id)}`, body) : api.post<Role>('/auth/roles', body);
    },
    onSuccess: (r) => {
      toast.success(`Role ${r.name} saved`);
      setEditing(null);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (r: Role) => api.delete(`/auth/roles/${encodeURIComponent(r.id)}`),
    onSuccess: (_, r) => {
      toast.success(`Role ${r.name} deleted`);
      void refresh();
    },
    onError: (err) => toast.error(new Error(plainError(err))),
  });
  function open(role: Role | 'new') {
    save.reset();
    setForm(role === 'new' ? { name: '', description: '', permissions: new Set() } : { name: role.name, description: role.description, permissions: new Set(role.permissions) });
    setEditing(role);
  }
  function toggle(name: string, on: boolean) {
    const next = new Set(form.permissions);
    if (on) next.add(name);
    else next.delete(name);
    setForm({ ...form, permissions: next });
  }
  // Checkboxes grouped by resource (`cert`, `issuer`, `auth`…), in catalogue order.
  const groups = new Map<string, Array<{ name: string; description: string }>>();
  for (const p of permissions.data?.permissions ?? []) {
    const resource = p.name.split('.')[0]!;
    groups.set(resource, [...(groups.get(resource) ?? []), p]);
  }
  const errors = fieldErrors(save.error);
  return (
    <section aria-labelledby="roles-title">
      <div className="page-head">
        <h2 id="roles-title">Roles</h2>
        <Can permission="auth.role.create">
          <button type="button" className="primary" onClick={() => open('new')}>New role</button>
        </Can>
      </div>
      {editing && (
        <form className="card form" aria-label={editing === 'new' ? 'New role' : `Edit role ${editing.name}`} noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); save.mutate(); }}>
          <Field id="role-name" label="Name" error={errors.name}>
            <input id="role-name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
          </Field>
          <Field id="role-description" label="Description" error={errors.description}>
            <input id="role-description" value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
          </Field>
          <QueryState isLoading={permissions.isLoading} error={permissions.error}>
            <div className="permission-groups">
              {[...groups].map(([resource, list]) => (
                <fieldset key={resource}>
                  <legend>{resource}</legend>
                  {list.map((p) => (
                    <label key={p.name} title={p.description}>
                      <input type="checkbox" checked={form.permissions.has(p.name)} onChange={(e) => toggle(p.name, e.target.checked)} />{' '}
                      <span className="mono">{p.name}</span>
                    </label>
                  ))}
                </fieldset>
              ))}
            </div>
          </QueryState>
          {errors.permissions && <p className="field-error" role="alert">{errors.permissions}</p>}
          {formError(save.error, ['name', 'description', 'permissions']) && <p className="field-error" role="alert">{plainError(save.error)}</p>}
          <div className="form-actions">
            <button type="button" onClick={() => setEditing(null)}>Cancel</button>
            <button type="submit" className="primary" disabled={save.isPending}>Save role</button>
          </div>
        </form>
      )}
      <QueryState isLoading={roles.isLoading} error={roles.error} isEmpty={!roles.data?.roles.length}>
        <Table label="Roles">
          <thead><tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">Permissions</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody data-testid="role-rows">
            {roles.data?.roles.map((r) => (
              <tr key={r.id}>
                <td>{r.name} {r.built_in && <span className="badge">built-in</span>}</td>
                <td>{r.description || '—'}</td>
                <td>
                  <details>
                    <summary>{r.permissions.length} permissions</summary>
                    <span className="mono">{r.permissions.join(', ')}</span>
                  </details>
                </td>
                <td className="row-actions">
                  {!r.built_in && (
                    <>
                      <Can permission="auth.role.edit">
                        <button type="button" aria-label={`Edit role ${r.name}`} onClick={() => open(r)}>Edit</button>
                      </Can>
                      <Can permission="auth.role.delete">
                        <ConfirmButton ask={confirm.ask} label="Delete" ariaLabel={`Delete role ${r.name}`} title={`Delete role ${r.name}?`}
                          detail={<p>Every grant and group mapping of it ends.</p>} onConfirm={() => remove.mutate(r)} />
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
    </section>
  );
}

/** Role, scope and expiry inputs shared by the grant and the group-mapping forms. */
interface GrantInput { role_id: string; scope_type: ScopeType; scope_id: string; expires_at: string }
const EMPTY_GRANT: GrantInput = { role_id: '', scope_type: 'global', scope_id: '', expires_at: '' };

function grantBody(v: GrantInput): Record<string, unknown> {
  return {
    role_id: v.role_id,
    scope_type: v.scope_type,
    ...(v.scope_type !== 'global' ? { scope_id: v.scope_id } : {}),
    ...(v.expires_at ? { expires_at: new Date(v.expires_at).toISOString() } : {}),
  };
}

function GrantFields({ prefix, value, onChange, errors }: { prefix: string; value: GrantInput; onChange(v: GrantInput): void; errors: Record<string, string> }) {
  const roles = useRoles();
  const { lists } = useScopeNames();
  const targets = value.scope_type === 'global' ? [] : lists[value.scope_type].data?.data ?? [];
  return (
    <>
      <Field id={`${prefix}-role`} label="Role" error={errors.role_id ?? errors.role}>
        <select id={`${prefix}-role`} value={value.role_id} onChange={(e) => onChange({ ...value, role_id: e.target.value })}>
          <option value="">Choose a role…</option>
          {roles.data?.roles.map((r) => <option key={r.id} value={r.id}>{r.name}</option>)}
        </select>
      </Field>
      <Field id={`${prefix}-scope-type`} label="Where" error={errors.scope_type}>
        <select id={`${prefix}-scope-type`} value={value.scope_type} onChange={(e) => onChange({ ...value, scope_type: e.target.value as ScopeType, scope_id: '' })}>
          {SCOPE_TYPES.map((t) => <option key={t} value={t}>{t === 'global' ? 'everywhere (global)' : `one ${t}`}</option>)}
        </select>
      </Field>
      {value.scope_type !== 'global' && (
        <Field id={`${prefix}-scope-id`} label={`Which ${value.scope_type}`} error={errors.scope_id}>
          <select id={`${prefix}-scope-id`} value={value.scope_id} onChange={(e) => onChange({ ...value, scope_id: e.target.value })}>
            <option value="">Choose a {value.scope_type}…</option>
            {targets.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
          </select>
        </Field>
      )}
      <Field id={`${prefix}-expires`} label="Expires (optional)" error={errors.expires_at} hint="Empty: until taken back">
        <input id={`${prefix}-expires`} type="datetime-local" value={value.expires_at} onChange={(e) => onChange({ ...value, expires_at: e.target.value })} />
      </Field>
    </>
  );
}

/** Grants of API keys and OpenID users: pick one, see its grants, grant a role somewhere, take one back. */
function Grants() {
  const session = useSession();
  const keys = useQuery({ queryKey: ['access', 'keys'], queryFn: () => api.get<{ data: ApiKey[] }>('/auth/keys'), enabled: session.can('auth.key.list') });
  const users = useQuery({ queryKey: ['access', 'users'], queryFn: () => api.get<Page<User>>('/auth/users'), enabled: session.can('auth.user.read') });
  const [subject, setSubject] = useState('');
  const [kind, id] = subject.split(':') as ['keys' | 'users' | '', string | undefined];
  const path = kind && id ? `/auth/${kind}/${encodeURIComponent(id)}/roles` : '';
  const grants = useQuery({ queryKey: ['access', 'grants', path], queryFn: () => api.get<{ grants: Grant[] }>(path), enabled: Boolean(path) });
  const { describe } = useScopeNames();
  const [input, setInput] = useState<GrantInput>(EMPTY_GRANT);
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['access', 'grants', path] });
  const grant = useMutation({
    mutationFn: () => api.post<Grant>(path, grantBody(input)),
    onSuccess: (g) => {
      toast.success(`Granted ${g.role_name} (${describe(g.scope_type, g.scope_id)})`);
      setInput(EMPTY_GRANT);
      void refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (g: Grant) => api.delete(`${path}/${encodeURIComponent(g.role_id)}?scope_type=${encodeURIComponent(g.scope_type)}${g.scope_id ? `&scope_id=${encodeURIComponent(g.scope_id)}` : ''}`),
    onSuccess: (_, g) => {
      toast.success(`Took back ${g.role_name} (${describe(g.scope_type, g.scope_id)})`);
      void refresh();
    },
    onError: (err) => toast.error(new Error(plainError(err))),
  });
  const userName = (u: User) => u.email || u.display_name || u.oidc_subject;
  const errors = fieldErrors(grant.error);
  return (
    <section aria-labelledby="grants-title">
      <h2 id="grants-title">Grants</h2>
      <div className="filters">
        <label>
          API key or user
          <select value={subject} onChange={(e) => { setSubject(e.target.value); grant.reset(); }}>
            <option value="">Choose…</option>
            {keys.data && (
              <optgroup label="API keys">
                {keys.data.data.filter((k) => !k.revoked_at).map((k) => <option key={k.id} value={`keys:${k.id}`}>{k.name} ({k.role})</option>)}
              </optgroup>
            )}
            {users.data && (
              <optgroup label="Users">
                {users.data.data.map((u) => <option key={u.id} value={`users:${u.id}`}>{userName(u)}{u.deactivated_at ? ' (deactivated)' : ''}</option>)}
              </optgroup>
            )}
          </select>
        </label>
      </div>
      {path && (
        <>
          <QueryState isLoading={grants.isLoading} error={grants.error && new Error(plainError(grants.error))} isEmpty={!grants.data?.grants.length} empty="No role granted.">
            <Table label="Grants">
              <thead><tr><th scope="col">Role</th><th scope="col">Where</th><th scope="col">Expires</th><th scope="col">Granted by</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
              <tbody data-testid="grant-rows">
                {grants.data?.grants.map((g) => (
                  <tr key={g.id}>
                    <td>{g.role_name}</td>
                    <td>{describe(g.scope_type, g.scope_id)}</td>
                    <td><RelativeTime iso={g.expires_at} empty="never" /></td>
                    <td>{g.granted_by}</td>
                    <td className="row-actions">
                      <Can permission="auth.role.revoke">
                        <ConfirmButton ask={confirm.ask} label="Take back" ariaLabel={`Take back ${g.role_name} (${describe(g.scope_type, g.scope_id)})`}
                          title={`Take back ${g.role_name} (${describe(g.scope_type, g.scope_id)})?`} onConfirm={() => revoke.mutate(g)} />
                      </Can>
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          </QueryState>
          <Can permission="auth.role.assign">
            <form className="card form" aria-label="Grant a role" noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); grant.mutate(); }}>
              <GrantFields prefix="grant" value={input} onChange={setInput} errors={errors} />
              {formError(grant.error, ['role_id', 'scope_type', 'scope_id', 'expires_at']) && <p className="field-error" role="alert">{plainError(grant.error)}</p>}
              <div className="form-actions"><button type="submit" className="primary" disabled={grant.isPending}>Grant</button></div>
            </form>
          </Can>
        </>
      )}
      {confirm.dialog}
    </section>
  );
}

/** Provider groups mapped to roles: a user in the group holds the role, where the mapping says, while the mapping lasts. */
function GroupMappings() {
  const providers = useQuery({ queryKey: ['access', 'providers'], queryFn: () => api.get<Page<OidcProvider>>('/auth/oidc/providers') });
  const mappings = useQuery({ queryKey: ['access', 'mappings'], queryFn: () => api.get<Page<GroupMapping>>('/auth/oidc/group-mappings') });
  const { describe } = useScopeNames();
  const [input, setInput] = useState<GrantInput & { provider_id: string; group_name: string }>({ ...EMPTY_GRANT, provider_id: '', group_name: '' });
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['access', 'mappings'] });
  const create = useMutation({
    mutationFn: () => api.post<GroupMapping>('/auth/oidc/group-mappings', { provider_id: input.provider_id, group_name: input.group_name.trim(), ...grantBody(input) }),
    onSuccess: (m) => {
      toast.success(`Group ${m.group_name} now grants ${m.role}`);
      setInput({ ...EMPTY_GRANT, provider_id: input.provider_id, group_name: '' });
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (m: GroupMapping) => api.delete(`/auth/oidc/group-mappings/${encodeURIComponent(m.id)}`),
    onSuccess: (_, m) => {
      toast.success(`Group ${m.group_name} no longer grants ${m.role}`);
      void refresh();
    },
    onError: (err) => toast.error(new Error(plainError(err))),
  });
  const providerName = (id: string) => providers.data?.data.find((p) => p.id === id)?.name ?? id;
  const errors = fieldErrors(create.error);
  return (
    <section aria-labelledby="mappings-title">
      <h2 id="mappings-title">Provider group mappings</h2>
      <QueryState isLoading={mappings.isLoading} error={mappings.error} isEmpty={!mappings.data?.data.length} empty="No group grants a role yet.">
        <Table label="Provider group mappings">
          <thead><tr><th scope="col">Provider</th><th scope="col">Group</th><th scope="col">Role</th><th scope="col">Where</th><th scope="col">Expires</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody data-testid="mapping-rows">
            {mappings.data?.data.map((m) => (
              <tr key={m.id}>
                <td>{providerName(m.provider_id)}</td>
                <td className="mono">{m.group_name}</td>
                <td>{m.role}</td>
                <td>{describe(m.scope_type, m.scope_id)}</td>
                <td><RelativeTime iso={m.expires_at} empty="never" /></td>
                <td className="row-actions">
                  <Can permission="auth.role.revoke">
                    <ConfirmButton ask={confirm.ask} label="Remove" ariaLabel={`Remove the mapping of group ${m.group_name} to ${m.role}`} title={`Remove the mapping of ${m.group_name} to ${m.role}?`}
                      detail={<p>Its members lose the role at once; sessions that needed it end.</p>} onConfirm={() => remove.mutate(m)} />
                  </Can>
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      </QueryState>
      <Can permission="auth.role.assign">
        {providers.data && providers.data.data.length === 0 ? (
          <p className="muted">Add an OpenID provider (POST /api/v1/auth/oidc/providers) to map its groups.</p>
        ) : (
          <form className="card form" aria-label="Map a group to a role" noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); create.mutate(); }}>
            <Field id="mapping-provider" label="Provider" error={errors.provider_id}>
              <select id="mapping-provider" value={input.provider_id} onChange={(e) => setInput({ ...input, provider_id: e.target.value })}>
                <option value="">Choose a provider…</option>
                {providers.data?.data.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
              </select>
            </Field>
            <Field id="mapping-group" label="Group" error={errors.group_name} hint="As the provider writes it in the groups claim">
              <input id="mapping-group" value={input.group_name} onChange={(e) => setInput({ ...input, group_name: e.target.value })} />
            </Field>
            <GrantFields prefix="mapping" value={input} onChange={(v) => setInput({ ...input, ...v })} errors={errors} />
            {formError(create.error, ['provider_id', 'group_name', 'role_id', 'role', 'scope_type', 'scope_id', 'expires_at']) && <p className="field-error" role="alert">{plainError(create.error)}</p>}
            <div className="form-actions"><button type="submit" className="primary" disabled={create.isPending}>Map group</button></div>
          </form>
        )}
      </Can>
      {confirm.dialog}
    </section>
  );
}
