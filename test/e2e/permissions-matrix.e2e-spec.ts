import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLE_PERMISSIONS, type BuiltInRoleName } from '@certctl/contracts';
import { GrantsService } from '../../apps/api/src/common/auth/grants.service';
import { SessionsService } from '../../apps/api/src/common/auth/sessions.service';
import { startApi, type ApiHarness } from '../support/api-harness';
import { post, unique } from '../support/fixtures';

/** One row of docs/permissions.md. */
interface DocRoute {
  method: string;
  path: string;
  /** Any one of these; empty = any authenticated caller. */
  permissions: string[];
  where: 'global' | 'rows' | 'path';
  agentSelf: boolean;
}

/** What a caller is: a credential (header or cookie) and the grants the test expects it to hold. */
interface Caller {
  name: string;
  headers: Record<string, string>;
  /** undefined: the credential itself is refused (401 everywhere). */
  grants?: Array<{ permission: string; scope: 'global' | 'team' }>;
  agent?: boolean;
}

/**
 * Every route × every kind of caller: no credentials, each built-in role granted globally, an operator whose only
 * grant is scoped to a team, a key whose grant expired, a revoked key, an OpenID user through a group mapping and a
 * deactivated one. The status must be what docs/permissions.md says: 401 without a usable credential, 403 without
 * the permission where the route needs it (globally, in any scope, or for the issuer/profile in the path), and
 * neither otherwise (the handler then answers 404/400/… for the made-up ids and empty bodies sent here).
 */
describe('permission matrix: every route × every kind of caller', () => {
  let api: ApiHarness;
  let routes: DocRoute[];
  const callers: Caller[] = [];

  const globalGrants = (role: BuiltInRoleName) => BUILT_IN_ROLE_PERMISSIONS[role].map((permission) => ({ permission, scope: 'global' as const }));

  beforeAll(async () => {
    api = await startApi();
    routes = parseDoc(readFileSync(resolve(__dirname, '../../docs/permissions.md'), 'utf8'));
    const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
    const keyOf = async (role: string) => {
      const created = await post(api, '/api/v1/auth/keys', { name: unique(`matrix-${role}`), role });
      return { id: created.id as string, secret: created.key as string };
    };

    callers.push({ name: 'no credentials', headers: {} });
    for (const role of ['admin', 'operator', 'viewer', 'auditor', 'mcp', 'cli'] as const) {
      callers.push({ name: `${role} key (global)`, headers: bearer((await keyOf(role)).secret), grants: globalGrants(role) });
    }
    const agent = await post(api, '/api/v1/agents', { name: unique('matrix-host') });
    callers.push({ name: 'agent key (its own agent only)', headers: bearer(agent.api_key as string), grants: globalGrants('agent'), agent: true });

    // An operator of team B only: its global grant taken back, a team-scoped one given, through the API.
    const teamB = await post(api, '/api/v1/teams', { name: unique('matrix-team-b') });
    const scoped = await keyOf('operator');
    await api.http.delete(`/api/v1/auth/keys/${scoped.id}/roles/r-operator`).set(api.auth()).expect(204);
    await api.http.post(`/api/v1/auth/keys/${scoped.id}/roles`).set(api.auth()).send({ role_id: 'r-operator', scope_type: 'team', scope_id: teamB.id }).expect(201);
    callers.push({ name: 'operator scoped to team B', headers: bearer(scoped.secret), grants: BUILT_IN_ROLE_PERMISSIONS.operator.map((permission) => ({ permission, scope: 'team' as const })) });

    // A key whose only grant has expired: still a valid credential, holding nothing.
    const expired = await keyOf('operator');
    await api.db.query(`UPDATE actor_roles SET expires_at = now() - interval '1 second' WHERE actor_type = 'APIKey' AND actor_id = $1`, [expired.id]);
    callers.push({ name: 'key whose grant expired', headers: bearer(expired.secret), grants: [] });

    const revoked = await keyOf('admin');
    await api.http.delete(`/api/v1/auth/keys/${revoked.id}`).set(api.auth()).expect(200);
    callers.push({ name: 'revoked admin key', headers: bearer(revoked.secret) });

    // OpenID users (the provider row written directly: no provider needs to answer for a session to be checked).
    await api.db.query(`INSERT INTO oidc_providers (id, name, issuer_url, client_id, redirect_uri) VALUES ('oidc-matrix', 'matrix', 'https://idp.example.test', 'certctl', 'https://certctl.example.test/auth/oidc/callback')`);
    await api.http.post('/api/v1/auth/oidc/group-mappings').set(api.auth()).send({ provider_id: 'oidc-matrix', group_name: 'matrix-viewers', role_id: 'r-viewer' }).expect(201);
    await api.http.post('/api/v1/auth/oidc/group-mappings').set(api.auth()).send({ provider_id: 'oidc-matrix', group_name: 'matrix-admins', role: 'admin' }).expect(201);
    const userSession = async (subject: string, group: string) => {
      const id = unique('u-matrix');
      await api.db.query(`INSERT INTO users (id, oidc_provider_id, oidc_subject, email, groups) VALUES ($1, 'oidc-matrix', $2, $3, $4)`, [id, subject, `${subject}@example.test`, [group]]);
      const session = await api.app.get(SessionsService).create(id, {});
      return { id, headers: { Cookie: `certctl_session=${session.token}`, 'X-CSRF-Token': session.csrf } };
    };
    const viewerUser = await userSession('vera', 'matrix-viewers');
    callers.push({ name: 'OpenID user (viewer through a group)', headers: viewerUser.headers, grants: globalGrants('viewer') });
    const gone = await userSession('gus', 'matrix-admins');
    await api.http.delete(`/api/v1/auth/users/${gone.id}`).set(api.auth()).expect(204);
    callers.push({ name: 'deactivated OpenID user (was admin)', headers: gone.headers });
    api.app.get(GrantsService).clear();
  }, 120_000);
  afterAll(async () => api?.close());

  it('says in /auth/me what each caller holds', async () => {
    for (const caller of callers.filter((c) => c.grants)) {
      const me = await api.http.get('/api/v1/auth/me').set(caller.headers).expect(200);
      const held = (me.body.effective_permissions as Array<{ permission: string; scope_type: string }>).map((g) => `${g.permission}@${g.scope_type}`).sort();
      expect(held, caller.name).toEqual(caller.grants!.map((g) => `${g.permission}@${g.scope}`).sort());
    }
  });

  it('answers every route as docs/permissions.md says, for every caller (zero violations)', async () => {
    expect(routes.length).toBeGreaterThan(150);
    const violations: string[] = [];
    const serverErrors: string[] = [];
    let checked = 0;
    // Signing out ends the session it is made with: last.
    const ordered = [...routes.filter((r) => r.path !== '/auth/logout'), ...routes.filter((r) => r.path === '/auth/logout')];
    for (const route of ordered) {
      const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => `matrix-missing-${name}`);
      for (const caller of callers) {
        const expected = expectation(route, caller);
        const req = api.http[route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'](path).set(caller.headers);
        const res = route.method === 'GET' || route.method === 'DELETE' ? await req : await req.send({});
        checked++;
        const denied = res.status === 401 || res.status === 403;
        if (expected === 'allowed' ? denied : res.status !== expected) {
          violations.push(`${route.method} ${route.path} as ${caller.name}: expected ${expected}, got ${res.status} ${JSON.stringify(res.body?.message ?? '')}`);
        }
        if (res.status >= 500) serverErrors.push(`${route.method} ${route.path} as ${caller.name}: ${res.status} ${JSON.stringify(res.body?.message ?? '')}`);
      }
    }
    if (serverErrors.length) console.warn(`[permissions-matrix] ${serverErrors.length} answers were 5xx (not authorization):\n${serverErrors.join('\n')}`);
    expect(violations).toEqual([]);
    expect(checked).toBe(routes.length * callers.length);
  }, 300_000);
});

/** 401, 403, or `allowed` (anything but 401/403) for this caller on this route. */
function expectation(route: DocRoute, caller: Caller): 401 | 403 | 'allowed' {
  if (!caller.grants) return 401;
  if (!route.permissions.length) return 'allowed';
  const reaches = caller.grants.some((g) => route.permissions.includes(g.permission) && (g.scope === 'global' || route.where === 'rows'));
  if (!reaches) return 403;
  // The made-up {id} is never the agent's own.
  if (route.agentSelf && caller.agent) return 403;
  return 'allowed';
}

/** The route rows of docs/permissions.md (public routes left out: they take no credentials). */
function parseDoc(markdown: string): DocRoute[] {
  const rows: DocRoute[] = [];
  for (const line of markdown.split('\n')) {
    const match = /^\| (GET|POST|PUT|DELETE|PATCH) \| `([^`]+)` \| ([^|]+) \| ([^|]+) \|$/.exec(line);
    if (!match) continue;
    const [, method, path, permission, scope] = match as unknown as [string, string, string, string, string];
    if (permission.trim() === '(public)') continue;
    // The queue dashboard's job actions are covered by operate-queues.e2e; its pages and session are checked here.
    if (path.includes('{retry|promote}')) continue;
    rows.push({
      method,
      path,
      permissions: permission.trim() === '(any authenticated caller)' ? [] : permission.trim().split(' or '),
      where: scope.includes('rows filtered') || scope.includes('reference data') ? 'rows' : scope.includes(' or ') ? 'path' : 'global',
      agentSelf: scope.includes('agent keys: own'),
    });
  }
  return rows;
}
