import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLE_NAMES, BUILT_IN_ROLE_PERMISSIONS, PERMISSIONS } from '@certctl/contracts';
import { SessionsService } from '../../apps/api/src/common/auth/sessions.service';
import { startApi, type ApiHarness } from '../support/api-harness';
import { post, unique } from '../support/fixtures';

/**
 * Roles as sets of permissions, granted to keys, users and provider groups, globally or within a team, issuer or
 * profile, optionally expiring: the management routes (certctl's shapes), their bad input, the audit trail of every
 * change, and that a change counts from the caller's next request.
 */
describe('roles, permissions and grants', () => {
  let api: ApiHarness;
  const newKey = async (role: string) => {
    const created = await post(api, '/api/v1/auth/keys', { name: unique(`rbac-${role}`), role });
    return { id: created.id as string, secret: created.key as string, auth: { Authorization: `Bearer ${created.key as string}` } };
  };

  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => api?.close());

  it('lists the catalogue and the seven built-in roles, which cannot be changed or deleted (409)', async () => {
    const permissions = await api.http.get('/api/v1/auth/permissions').set(api.auth()).expect(200);
    expect(permissions.body.permissions.map((p: { name: string }) => p.name)).toEqual(PERMISSIONS);
    const roles = await api.http.get('/api/v1/auth/roles').set(api.auth()).expect(200);
    const builtIns = roles.body.roles.filter((r: { built_in: boolean }) => r.built_in);
    expect(builtIns.map((r: { id: string }) => r.id).sort()).toEqual(BUILT_IN_ROLE_NAMES.map((n) => `r-${n}`).sort());
    const operator = await api.http.get('/api/v1/auth/roles/r-operator').set(api.auth()).expect(200);
    expect(operator.body.permissions).toEqual([...BUILT_IN_ROLE_PERMISSIONS.operator]);
    await api.http.delete('/api/v1/auth/roles/r-viewer').set(api.auth()).expect(409);
    await api.http.put('/api/v1/auth/roles/r-viewer').set(api.auth()).send({ permissions: ['cert.revoke'] }).expect(409);
    await api.http.post('/api/v1/auth/roles/r-viewer/permissions').set(api.auth()).send({ permission: 'cert.revoke' }).expect(409);
    await api.http.get('/api/v1/auth/roles/r-nope').set(api.auth()).expect(404);
  });

  it('makes custom roles whose permissions count from the next request, and audits each change', async () => {
    const role = await post(api, '/api/v1/auth/roles', { name: unique('cert-reader'), permissions: ['cert.read'] });
    expect(role).toMatchObject({ built_in: false, permissions: ['cert.read'] });
    const key = await newKey('viewer');
    await api.http.delete(`/api/v1/auth/keys/${key.id}/roles/r-viewer`).set(api.auth()).expect(204);
    await api.http.get('/api/v1/certificates').set(key.auth).expect(403);
    const grant = await api.http.post(`/api/v1/auth/keys/${key.id}/roles`).set(api.auth()).send({ role_id: role.id }).expect(201);
    expect(grant.body).toMatchObject({ actor_type: 'APIKey', actor_id: key.id, role_id: role.id, scope_type: 'global' });
    await api.http.get('/api/v1/certificates').set(key.auth).expect(200);
    const denied = await api.http.get('/api/v1/teams').set(key.auth).expect(403);
    expect(denied.body).toMatchObject({ error: 'Forbidden', message: 'missing permission team.read' });

    await api.http.post(`/api/v1/auth/roles/${role.id}/permissions`).set(api.auth()).send({ permission: 'team.read' }).expect(201);
    await api.http.get('/api/v1/teams').set(key.auth).expect(200);
    await api.http.delete(`/api/v1/auth/roles/${role.id}/permissions/team.read`).set(api.auth()).expect(200);
    await api.http.get('/api/v1/teams').set(key.auth).expect(403);

    await api.http.delete(`/api/v1/auth/roles/${role.id}`).set(api.auth()).expect(204);
    await api.http.get('/api/v1/certificates').set(key.auth).expect(403);
    const me = await api.http.get('/api/v1/auth/me').set(key.auth).expect(200);
    expect(me.body).toMatchObject({ actor_id: key.id, tenant_id: 't-default', admin: false, roles: [], effective_permissions: [], role: 'none', access: ['authenticated'] });

    await api.flushAudit();
    const { rows } = await api.db.query(`SELECT action FROM audit_events WHERE event_category = 'auth' AND (resource_id = $1 OR resource_id = $2) ORDER BY seq`, [role.id, key.id]);
    expect(rows.map((r) => r.action)).toEqual(expect.arrayContaining([
      'role_created', 'role_granted', 'role_revoked', 'role_permission_added', 'role_permission_removed', 'role_deleted',
    ]));
  });

  it('refuses bad input with the field: unknown role, permission, scope type or scope id (400), unknown key (404), a duplicate (409)', async () => {
    const key = await newKey('viewer');
    const grant = (body: object) => api.http.post(`/api/v1/auth/keys/${key.id}/roles`).set(api.auth()).send(body);
    expect((await grant({ role_id: 'r-nope' }).expect(400)).body.details).toEqual([expect.objectContaining({ field: 'role_id' })]);
    expect((await grant({ role_id: 'r-operator', scope_type: 'galaxy', scope_id: 'x' }).expect(400)).body.details).toEqual([expect.objectContaining({ field: 'scope_type' })]);
    expect((await grant({ role_id: 'r-operator', scope_type: 'team' }).expect(400)).body.details).toEqual([expect.objectContaining({ field: 'scope_id' })]);
    expect((await grant({ role_id: 'r-operator', scope_type: 'team', scope_id: 'team-nope' }).expect(400)).body.details).toEqual([expect.objectContaining({ field: 'scope_id' })]);
    expect((await grant({ role_id: 'r-operator', expires_at: '2001-01-01T00:00:00Z' }).expect(400)).body.details).toEqual([expect.objectContaining({ field: 'expires_at' })]);
    expect((await grant({ role_id: 'r-viewer' }).expect(409)).body.details).toEqual([expect.objectContaining({ field: 'role_id' })]);
    await api.http.post('/api/v1/auth/keys/ak-nope/roles').set(api.auth()).send({ role_id: 'r-viewer' }).expect(404);
    await api.http.delete(`/api/v1/auth/keys/${key.id}/roles/r-auditor`).set(api.auth()).expect(404);
    await api.http.post('/api/v1/auth/users/u-nope/roles').set(api.auth()).send({ role_id: 'r-viewer' }).expect(404);

    const bad = await api.http.post('/api/v1/auth/roles').set(api.auth()).send({ name: unique('r'), permissions: ['cert.read', 'cert.fly'] }).expect(400);
    expect(bad.body.details).toEqual([expect.objectContaining({ field: 'permissions' })]);
    const name = unique('dup');
    await post(api, '/api/v1/auth/roles', { name });
    await api.http.post('/api/v1/auth/roles').set(api.auth()).send({ name }).expect(409);
    const custom = await post(api, '/api/v1/auth/roles', { name: unique('r') });
    await api.http.post(`/api/v1/auth/roles/${custom.id}/permissions`).set(api.auth()).send({ permission: 'nope.nope' }).expect(400);
    await api.http.post(`/api/v1/auth/roles/${custom.id}/permissions`).set(api.auth()).send({ permission: 'cert.read' }).expect(201);
    await api.http.post(`/api/v1/auth/roles/${custom.id}/permissions`).set(api.auth()).send({ permission: 'cert.read' }).expect(409);
    await api.http.post('/api/v1/auth/oidc/group-mappings').set(api.auth()).send({ provider_id: 'oidc-nope', group_name: 'g', role_id: 'r-viewer' }).expect(400);
  });

  it('holds an issuer-scoped grant for that issuer only, and a team-scoped one only where rows are filtered', async () => {
    const issuerA = await post(api, '/api/v1/issuers', { name: unique('iss-a'), type: 'GenericCA' });
    const issuerB = await post(api, '/api/v1/issuers', { name: unique('iss-b'), type: 'GenericCA' });
    const team = await post(api, '/api/v1/teams', { name: unique('team') });
    const key = await newKey('viewer');
    await api.http.delete(`/api/v1/auth/keys/${key.id}/roles/r-viewer`).set(api.auth()).expect(204);
    await api.http.post(`/api/v1/auth/keys/${key.id}/roles`).set(api.auth()).send({ role_id: 'r-operator', scope_type: 'issuer', scope_id: issuerA.id }).expect(201);
    await api.http.get(`/api/v1/issuers/${issuerA.id}`).set(key.auth).expect(200);
    const other = await api.http.get(`/api/v1/issuers/${issuerB.id}`).set(key.auth).expect(403);
    expect(other.body.message).toContain('issuer.read');
    // A route whose effect is not confined to a scope needs the permission globally.
    expect((await api.http.post('/api/v1/teams').set(key.auth).send({ name: unique('t') }).expect(403)).body.message).toContain('globally');

    const teamKey = await newKey('viewer');
    await api.http.delete(`/api/v1/auth/keys/${teamKey.id}/roles/r-viewer`).set(api.auth()).expect(204);
    await api.http.post(`/api/v1/auth/keys/${teamKey.id}/roles`).set(api.auth()).send({ role_id: 'r-operator', scope_type: 'team', scope_id: team.id }).expect(201);
    await api.http.get('/api/v1/certificates').set(teamKey.auth).expect(200);
    await api.http.get(`/api/v1/issuers/${issuerA.id}`).set(teamKey.auth).expect(403);
    const me = await api.http.get('/api/v1/auth/me').set(teamKey.auth).expect(200);
    expect(me.body.role_grants).toEqual([expect.objectContaining({ role_id: 'r-operator', scope_type: 'team', scope_id: team.id, via: 'direct' })]);
    expect(me.body.effective_permissions).toContainEqual({ permission: 'cert.read', scope_type: 'team', scope_id: team.id });
    // Taken back in that one scope only.
    await api.http.delete(`/api/v1/auth/keys/${teamKey.id}/roles/r-operator?scope_type=team&scope_id=${team.id}`).set(api.auth()).expect(204);
    await api.http.get('/api/v1/certificates').set(teamKey.auth).expect(403);
  });

  it('ends a grant at its expiry: the key is refused from then on, and a user whose only grant expired loses the session', async () => {
    const key = await newKey('viewer');
    await api.http.delete(`/api/v1/auth/keys/${key.id}/roles/r-viewer`).set(api.auth()).expect(204);
    const expiresAt = new Date(Date.now() + 1500);
    await api.http.post(`/api/v1/auth/keys/${key.id}/roles`).set(api.auth()).send({ role_id: 'r-viewer', expires_at: expiresAt.toISOString() }).expect(201);
    await api.http.get('/api/v1/certificates').set(key.auth).expect(200);
    await waitUntil(expiresAt);
    await api.http.get('/api/v1/certificates').set(key.auth).expect(403);

    await api.db.query(`INSERT INTO oidc_providers (id, name, issuer_url, client_id, redirect_uri) VALUES ('oidc-rbac', 'rbac', 'https://idp.example.test', 'c', 'https://certctl.example.test/cb')`);
    const userId = unique('u-rbac');
    await api.db.query(`INSERT INTO users (id, oidc_provider_id, oidc_subject, email, groups) VALUES ($1, 'oidc-rbac', 'sam', 'sam@example.test', '{}')`, [userId]);
    const userExpiry = new Date(Date.now() + 1500);
    const userGrant = await api.http.post(`/api/v1/auth/users/${userId}/roles`).set(api.auth()).send({ role_id: 'r-auditor', expires_at: userExpiry.toISOString() }).expect(201);
    expect(userGrant.body).toMatchObject({ actor_type: 'User', actor_id: userId, role_id: 'r-auditor' });
    const session = await api.app.get(SessionsService).create(userId, {});
    const cookie = { Cookie: `certctl_session=${session.token}` };
    await api.http.get('/api/v1/audit').set(cookie).expect(200);
    await api.http.get('/api/v1/certificates').set(cookie).expect(403);
    await waitUntil(userExpiry);
    const ended = await api.http.get('/api/v1/audit').set(cookie).expect(401);
    expect(ended.body.message).toContain('no role');
  });

  it('maps a provider group to a custom role within a team, and the mapping\'s user holds it', async () => {
    await api.db.query(`INSERT INTO oidc_providers (id, name, issuer_url, client_id, redirect_uri) VALUES ('oidc-groups', 'groups', 'https://idp.example.test', 'c', 'https://certctl.example.test/cb')`);
    const team = await post(api, '/api/v1/teams', { name: unique('team') });
    const role = await post(api, '/api/v1/auth/roles', { name: unique('team-issuer'), permissions: ['cert.read', 'cert.issue'] });
    const mapping = await post(api, '/api/v1/auth/oidc/group-mappings', { provider_id: 'oidc-groups', group_name: 'pki-team', role_id: role.id, scope_type: 'team', scope_id: team.id });
    expect(mapping).toMatchObject({ role: role.name, role_id: role.id, scope_type: 'team', scope_id: team.id });
    await api.http.post('/api/v1/auth/oidc/group-mappings').set(api.auth()).send({ provider_id: 'oidc-groups', group_name: 'pki-team', role_id: role.id, scope_type: 'team', scope_id: team.id }).expect(409);
    await api.http.post('/api/v1/auth/oidc/group-mappings').set(api.auth()).send({ provider_id: 'oidc-groups', group_name: 'pki-team', role: 'no-such-role' }).expect(400);
    const userId = unique('u-groups');
    await api.db.query(`INSERT INTO users (id, oidc_provider_id, oidc_subject, email, groups) VALUES ($1, 'oidc-groups', 'pat', 'pat@example.test', '{pki-team}')`, [userId]);
    const session = await api.app.get(SessionsService).create(userId, {});
    const me = await api.http.get('/api/v1/auth/me').set({ Cookie: `certctl_session=${session.token}` }).expect(200);
    expect(me.body).toMatchObject({ actor_type: 'User', actor_id: userId, user_id: userId, role: role.name });
    expect(me.body.role_grants).toEqual([expect.objectContaining({ role_id: role.id, scope_type: 'team', scope_id: team.id, via: 'group' })]);
    expect(me.body.effective_permissions).toEqual([
      { permission: 'cert.issue', scope_type: 'team', scope_id: team.id },
      { permission: 'cert.read', scope_type: 'team', scope_id: team.id },
    ]);
    await api.http.delete(`/api/v1/auth/oidc/group-mappings/${mapping.id}`).set(api.auth()).expect(204);
    await api.http.get('/api/v1/auth/me').set({ Cookie: `certctl_session=${session.token}` }).expect(401);
  });

  it('opens the queue dashboard with queue.admin (not a role name) and ends its session when the grant is taken back', async () => {
    const viewer = await newKey('viewer');
    const refused = await api.http.post('/admin/queues/session').set(viewer.auth).expect(403);
    expect(refused.body.message).toContain('queue.admin');
    const role = await post(api, '/api/v1/auth/roles', { name: unique('queue-keeper'), permissions: ['queue.admin'] });
    await api.http.post(`/api/v1/auth/keys/${viewer.id}/roles`).set(api.auth()).send({ role_id: role.id }).expect(201);
    const opened = await api.http.post('/admin/queues/session').set(viewer.auth).expect(204);
    const cookie = String(opened.headers['set-cookie']).split(';')[0]!;
    await api.http.get('/admin/queues/api/queues').set('Cookie', cookie).expect(200);
    await api.http.delete(`/api/v1/auth/keys/${viewer.id}/roles/${role.id}`).set(api.auth()).expect(204);
    const ended = await api.http.get('/admin/queues/api/queues').set('Cookie', cookie).expect(401);
    expect(ended.body.message).toContain('no longer holds queue.admin');
  });

  it('lists keys in certctl\'s {keys} and the older envelope, and a key mints only roles it holds in full (a cli key: a viewer, not an admin)', async () => {
    const list = await api.http.get('/api/v1/auth/keys').set(api.auth()).expect(200);
    expect(list.body.keys).toEqual(list.body.data);
    expect(list.body.total).toBe(list.body.keys.length);
    const cli = await newKey('cli');
    await api.http.post('/api/v1/auth/keys').set(cli.auth).send({ name: unique('minted'), role: 'viewer' }).expect(201);
    await api.http.post('/api/v1/auth/keys').set(cli.auth).send({ name: unique('minted'), role: 'admin' }).expect(403);
    await api.http.post(`/api/v1/auth/keys/${cli.id}/roles`).set(cli.auth).send({ role_id: 'r-admin' }).expect(403);
    // A custom role that may only mint keys cannot mint one stronger than itself.
    const minter = await post(api, '/api/v1/auth/roles', { name: unique('key-minter'), permissions: ['auth.key.create'] });
    const key = await newKey('viewer');
    await api.http.delete(`/api/v1/auth/keys/${key.id}/roles/r-viewer`).set(api.auth()).expect(204);
    await api.http.post(`/api/v1/auth/keys/${key.id}/roles`).set(api.auth()).send({ role_id: minter.id }).expect(201);
    const refused = await api.http.post('/api/v1/auth/keys').set(key.auth).send({ name: unique('minted'), role: 'operator' }).expect(403);
    expect(refused.body.message).toContain('auth.role.assign');
  });
});

/** Resolves once the wall clock has passed `deadline` (a condition on the clock, polled; no fixed sleep). */
async function waitUntil(deadline: Date): Promise<void> {
  while (Date.now() <= deadline.getTime()) await new Promise((r) => setTimeout(r, Math.min(50, deadline.getTime() - Date.now() + 1)));
}
