import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from '../support/api-harness';
import { createInventory, certificateBody, keyWithRole, post, unique, type Inventory } from '../support/fixtures';

/** The shapes certctl's own clients expect from us (issue 14, item 1). */
describe('certctl dialect: shapes', () => {
  let api: ApiHarness;
  let inv: Inventory;

  beforeAll(async () => {
    api = await startApi();
    inv = await createInventory(api);
  });
  afterAll(async () => api?.close());

  it('answers unknown routes with the JSON error shape and audits them with the real actor', async () => {
    for (const [method, path] of [['get', '/api/v1/no-such-thing'], ['post', '/api/v1/certificates/x/nope'], ['get', '/nowhere']] as const) {
      const res = await api.http[method](path).set(api.auth());
      expect(res.status, path).toBe(404);
      expect(res.headers['content-type'], path).toContain('application/json');
      expect(res.body, path).toMatchObject({ error: 'Not Found', code: 'NOT_FOUND', request_id: expect.any(String) });
    }
    const operator = await keyWithRole(api, 'operator');
    await api.http.delete('/api/v1/unknown-resource/1').set(api.auth(operator)).expect(404);
    await api.flushAudit();
    const { rows } = await api.db.query(`SELECT actor, actor_type, details FROM audit_events WHERE action = 'api_delete' AND resource_id = '/api/v1/unknown-resource/1'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].actor).not.toBe('anonymous');
    expect(rows[0]).toMatchObject({ actor_type: 'APIKey', details: { status: 404 } });
  });

  it('omits unset optional fields and lists certificates with their target_ids', async () => {
    const target = await post(api, '/api/v1/targets', { name: unique('nginx'), type: 'NGINX' });
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id], team_id: undefined }));
    for (const field of ['expires_at', 'revoked_at', 'revocation_reason', 'last_renewal_at', 'last_deployment_at', 'certificate_profile_id', 'team_id']) {
      expect(cert, field).not.toHaveProperty(field);
    }
    // Set fields are sent, JSON values inside a resource keep their nulls.
    expect(cert).toMatchObject({ status: 'Pending', owner_id: inv.ownerId, target_ids: [target.id] });
    expect(target).toHaveProperty('agent_id', null); // agentless (deployed by the orchestrator): certctl's UI reads agent_id on every target
    expect(target).not.toHaveProperty('last_tested_at');

    const listed = (await api.http.get(`/api/v1/certificates?owner_id=${inv.ownerId}&per_page=500`).set(api.auth()).expect(200)).body;
    const item = listed.data.find((c: { id: string }) => c.id === cert.id);
    expect(item.target_ids).toEqual([target.id]);
    expect(item).not.toHaveProperty('expires_at');
    const unmapped = await post(api, '/api/v1/certificates', certificateBody(inv));
    const again = (await api.http.get(`/api/v1/certificates?owner_id=${inv.ownerId}&per_page=500`).set(api.auth()).expect(200)).body;
    expect(again.data.find((c: { id: string }) => c.id === unmapped.id).target_ids).toEqual([]);

    await api.db.query(`INSERT INTO jobs (id, type, certificate_id, status) VALUES ($1, 'Issuance', $2, 'Pending')`, [`job-${unique('j')}`, cert.id]);
    const jobs = (await api.http.get(`/api/v1/jobs?per_page=500`).set(api.auth()).expect(200)).body.data;
    const job = jobs.find((j: { certificate_id: string }) => j.certificate_id === cert.id);
    for (const field of ['target_id', 'agent_id', 'last_error', 'started_at', 'completed_at', 'verification_status']) expect(job, field).not.toHaveProperty(field);
  });

  it("sorts by certctl's names (notAfter, -createdAt, commonName) as by ours", async () => {
    const owner = await post(api, '/api/v1/owners', { name: unique('sorter'), email: 'sort@example.com' });
    const ids: string[] = [];
    for (const days of [30, 10, 20]) {
      const cert = await post(api, '/api/v1/certificates', certificateBody({ ...inv, ownerId: owner.id as string }));
      await api.db.query(`UPDATE managed_certificates SET expires_at = now() + make_interval(days => $2) WHERE id = $1`, [cert.id, days]);
      ids.push(cert.id as string);
    }
    const order = async (sort: string) =>
      (await api.http.get(`/api/v1/certificates?owner_id=${owner.id}&sort=${encodeURIComponent(sort)}`).set(api.auth()).expect(200)).body.data.map((c: { id: string }) => c.id);
    expect(await order('notAfter')).toEqual([ids[1], ids[2], ids[0]]);
    expect(await order('-notAfter')).toEqual([ids[0], ids[2], ids[1]]);
    expect(await order('notAfter')).toEqual(await order('expires_at'));
    expect(await order('-createdAt')).toEqual([...ids].reverse());
    expect(await order('-createdAt')).toEqual(await order('-created_at'));
    expect((await api.http.get(`/api/v1/certificates?owner_id=${owner.id}&sort=notAfter&sort_desc=true`).set(api.auth()).expect(200)).body.data[0].id).toBe(ids[0]);
    const bad = await api.http.get('/api/v1/certificates?sort=shoeSize').set(api.auth()).expect(400);
    expect(bad.body.details[0].field).toBe('sort');
    await api.http.get('/api/v1/teams?sort=-updatedAt').set(api.auth()).expect(200);
  });

  it('names the Kubernetes target type KubernetesSecrets and still accepts KubernetesSecret', async () => {
    const old = await post(api, '/api/v1/targets', { name: unique('k8s'), type: 'KubernetesSecret', config: { namespace: 'web', secret_name: 'tls' } });
    expect(old.type).toBe('KubernetesSecrets');
    const listed = (await api.http.get('/api/v1/targets?type=KubernetesSecret').set(api.auth()).expect(200)).body;
    expect(listed.data.map((t: { id: string }) => t.id)).toContain(old.id);
    await api.http.post('/api/v1/targets').set(api.auth()).send({ name: unique('bad'), type: 'KubernetesSecretz' }).expect(400);
  });

  it('answers /auth/check and /auth/me in certctl shape, with our fields beside it, and lists keys in the envelope', async () => {
    const viewer = await keyWithRole(api, 'viewer');
    for (const path of ['/api/v1/auth/check', '/api/v1/auth/me']) {
      const res = (await api.http.get(path).set(api.auth(viewer)).expect(200)).body;
      expect(res).toMatchObject({ admin: false, roles: ['r-viewer'], role: 'viewer', actor_type: 'APIKey', user: res.actor });
      expect(res.permissions).toContain('cert.read');
      expect(res.permissions).toContain('audit.read');
      expect(res.permissions).not.toContain('cert.issue');
      expect(res.access).toEqual(expect.arrayContaining(['read', 'audit']));
    }
    const admin = (await api.http.get('/api/v1/auth/me').set(api.auth()).expect(200)).body;
    expect(admin).toMatchObject({ admin: true, roles: ['r-admin'], user: 'bootstrap-admin' });
    expect(admin.permissions).toEqual(expect.arrayContaining(['cert.issue', 'auth.key.list', 'agent.retire']));
    await api.http.get('/api/v1/auth/me').expect(401);
    const keys = (await api.http.get('/api/v1/auth/keys').set(api.auth()).expect(200)).body;
    expect(keys).toMatchObject({ total: keys.data.length, page: 1, per_page: keys.data.length });
    expect(keys.data.length).toBeGreaterThan(0);
  });

  it('serves /discovery-summary flat, counts by status at the top level', async () => {
    const summary = (await api.http.get('/api/v1/discovery-summary').set(api.auth()).expect(200)).body;
    expect(summary).toMatchObject({ Unmanaged: 0, Managed: 0, Dismissed: 0, total: 0 });
    expect(summary).not.toHaveProperty('by_status');
    for (const value of Object.values(summary)) expect(typeof value).not.toBe('object');
  });

  it('tells its version without a key, and does not audit it', async () => {
    const res = await api.http.get('/api/v1/version').expect(200);
    expect(res.body).toMatchObject({ version: '0.1.0', node_version: process.version, runtime_version: process.version, api_version: 'v1' });
  });
});
