import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { createInventory, keyWithRole, post, unique } from '../support/fixtures';

describe('API-key authentication and roles', () => {
  let api: ApiHarness;

  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => api?.close());

  it('answers 401 with the error shape when the key is missing, malformed or unknown', async () => {
    for (const headers of [{}, { Authorization: 'Basic abc' }, { Authorization: 'Bearer not-a-real-key' }]) {
      const res = await api.http.get('/api/v1/certificates').set(headers).expect(401);
      expect(res.body).toMatchObject({ error: 'Unauthorized', code: 'UNAUTHENTICATED' });
      expect(res.body.request_id).toBe(res.headers['x-request-id']);
    }
  });

  it('leaves /health, /ready and /api/v1/auth/info open', async () => {
    await api.http.get('/health').expect(200);
    await api.http.get('/ready').expect(200);
    const info = await api.http.get('/api/v1/auth/info').expect(200);
    expect(info.body).toEqual({ auth_type: 'api-key', required: true, oidc_providers: [] });
  });

  it('shows a new key once and stores only its SHA-256', async () => {
    const created = await post(api, '/api/v1/auth/keys', { name: unique('ci'), role: 'operator' });
    expect(created.key).toMatch(/^cck_/);
    // api_key, as POST /agents names its secret; key kept as an alias.
    expect(created.api_key).toBe(created.key);
    expect(created).not.toHaveProperty('key_hash');
    const { rows } = await api.db.query('SELECT key_hash FROM api_keys WHERE id = $1', [created.id]);
    expect(rows[0].key_hash).toBe(createHash('sha256').update(created.key).digest('hex'));
    const dump = await api.db.query(`SELECT count(*)::int AS n FROM api_keys WHERE row_to_json(api_keys)::text LIKE $1`, [`%${created.key}%`]);
    expect(dump.rows[0].n).toBe(0);
    const listed = await api.http.get('/api/v1/auth/keys').set(api.auth()).expect(200);
    const entry = listed.body.data.find((k: { id: string }) => k.id === created.id);
    expect(entry).toBeDefined();
    expect(JSON.stringify(listed.body)).not.toContain(created.key);
    const check = await api.http.get('/api/v1/auth/check').set(api.auth(created.key)).expect(200);
    expect(check.body).toMatchObject({ actor: created.name, role: 'operator', actor_type: 'APIKey' });
  });

  it('refuses duplicate key names with 409', async () => {
    const name = unique('dup');
    await post(api, '/api/v1/auth/keys', { name, role: 'viewer' });
    await api.http.post('/api/v1/auth/keys').set(api.auth()).send({ name, role: 'viewer' }).expect(409);
  });

  it('stops accepting a key once it is revoked, and a second revoke is 409', async () => {
    const created = await post(api, '/api/v1/auth/keys', { name: unique('temp'), role: 'viewer' });
    await api.http.get('/api/v1/certificates').set(api.auth(created.key)).expect(200);
    await api.http.delete(`/api/v1/auth/keys/${created.id}`).set(api.auth()).expect(200);
    await api.http.get('/api/v1/certificates').set(api.auth(created.key)).expect(401);
    await api.http.delete(`/api/v1/auth/keys/${created.id}`).set(api.auth()).expect(409);
    await api.http.delete('/api/v1/auth/keys/ak-missing').set(api.auth()).expect(404);
  });

  it('rejects an expired key', async () => {
    const created = await post(api, '/api/v1/auth/keys', { name: unique('old'), role: 'viewer', expires_at: new Date(Date.now() + 1000).toISOString() });
    await api.db.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [created.id]);
    await api.http.get('/api/v1/certificates').set(api.auth(created.key)).expect(401);
  });

  it('gives each role exactly its rights (403 otherwise)', async () => {
    const inv = await createInventory(api);
    const viewer = await keyWithRole(api, 'viewer');
    const operator = await keyWithRole(api, 'operator');
    const auditor = await keyWithRole(api, 'auditor');
    const team = { name: unique('team') };

    // viewer: reads everything, changes nothing
    await api.http.get('/api/v1/teams').set(api.auth(viewer)).expect(200);
    await api.http.get('/api/v1/audit').set(api.auth(viewer)).expect(200);
    const denied = await api.http.post('/api/v1/teams').set(api.auth(viewer)).send(team).expect(403);
    expect(denied.body.code).toBe('FORBIDDEN');
    await api.http.delete(`/api/v1/owners/${inv.ownerId}`).set(api.auth(viewer)).expect(403);

    // operator: changes the inventory, but cannot manage keys
    await api.http.post('/api/v1/teams').set(api.auth(operator)).send(team).expect(201);
    await api.http.get('/api/v1/auth/keys').set(api.auth(operator)).expect(403);
    await api.http.post('/api/v1/auth/keys').set(api.auth(operator)).send({ name: unique('x'), role: 'admin' }).expect(403);

    // auditor: the audit trail only
    await api.http.get('/api/v1/audit').set(api.auth(auditor)).expect(200);
    await api.http.get('/api/v1/audit/verify').set(api.auth(auditor)).expect(200);
    await api.http.get('/api/v1/certificates').set(api.auth(auditor)).expect(403);
    await api.http.get('/api/v1/auth/check').set(api.auth(auditor)).expect(200);
  });

  it('lets an agent key speak only for its own agent', async () => {
    const agent = await post(api, '/api/v1/agents', { name: unique('host') });
    const other = await post(api, '/api/v1/agents', { name: unique('host') });
    expect(agent.api_key).toMatch(/^cck_/);
    const key = agent.api_key as string;

    const beat = await api.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(api.auth(key)).send({ version: '1.2.3' }).expect(200);
    expect(beat.body).toMatchObject({ status: 'Online', version: '1.2.3' });
    await api.http.get(`/api/v1/agents/${agent.id}`).set(api.auth(key)).expect(200);
    await api.http.get(`/api/v1/agents/${other.id}`).set(api.auth(key)).expect(403);
    await api.http.post(`/api/v1/agents/${other.id}/heartbeat`).set(api.auth(key)).send({}).expect(403);
    await api.http.get('/api/v1/certificates').set(api.auth(key)).expect(403);
    await api.http.get('/api/v1/agents').set(api.auth(key)).expect(403);
    const check = await api.http.get('/api/v1/auth/check').set(api.auth(key)).expect(200);
    expect(check.body).toMatchObject({ role: 'agent', actor_type: 'Agent', agent_id: agent.id });
    // agent keys are minted by registration only
    await api.http.post('/api/v1/auth/keys').set(api.auth()).send({ name: unique('a'), role: 'agent' }).expect(400);
  });

  it('refuses a key revoking itself', async () => {
    const created = await post(api, '/api/v1/auth/keys', { name: unique('self'), role: 'admin' });
    await api.http.delete(`/api/v1/auth/keys/${created.id}`).set(api.auth(created.key)).expect(409);
  });
});

describe('CERTCTL_AUTH_TYPE=none (local demos only)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi({ CERTCTL_AUTH_TYPE: 'none' });
  });
  afterAll(async () => api?.close());

  it('treats every caller as the anonymous demo admin', async () => {
    const info = await api.http.get('/api/v1/auth/info').expect(200);
    expect(info.body).toEqual({ auth_type: 'none', required: false, oidc_providers: [] });
    const check = await api.http.get('/api/v1/auth/check').expect(200);
    expect(check.body).toMatchObject({ actor: 'actor-demo-anon', actor_type: 'Anonymous', role: 'admin' });
    await api.http.post('/api/v1/teams').send({ name: unique('demo') }).expect(201);
  });
});
