import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, keyWithRole, post, unique } from '../support/fixtures';

describe('audit trail', () => {
  let api: ApiHarness;

  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => api?.close());

  const events = async (where: string, params: unknown[]) =>
    (await api.db.query(`SELECT * FROM audit_events WHERE ${where} ORDER BY seq`, params)).rows;

  it('records every mutating call with actor, body hash, status and latency, and no reads', async () => {
    const body = JSON.stringify({ name: unique('team') });
    const res = await api.http.post('/api/v1/teams').set(api.auth()).set('Content-Type', 'application/json').send(body).expect(201);
    await api.http.get(`/api/v1/teams/${res.body.id}`).set(api.auth()).expect(200);
    await api.flushAudit();
    const calls = await events(`action LIKE 'api_%' AND details->>'request_id' = $1`, [res.headers['x-request-id']]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ actor: 'bootstrap-admin', actor_type: 'APIKey', action: 'api_post', resource_type: 'api', resource_id: '/api/v1/teams' });
    expect(calls[0].details).toMatchObject({ method: 'POST', status: 201, body_hash: createHash('sha256').update(body).digest('hex') });
    expect(calls[0].details.latency_ms).toBeGreaterThan(0);
    const reads = await events(`action = 'api_get'`, []);
    expect(reads).toHaveLength(0);
  });

  it('records rejected calls too, as anonymous auth events', async () => {
    const res = await api.http.post('/api/v1/teams').send({ name: 'x' }).expect(401);
    await api.flushAudit();
    const [call] = await events(`details->>'request_id' = $1`, [res.headers['x-request-id']]);
    expect(call).toMatchObject({ actor: 'anonymous', actor_type: 'Anonymous', event_category: 'auth', action: 'api_post' });
    expect(call.details.status).toBe(401);
  });

  it('writes domain events in the transaction of the change, and none when the change fails', async () => {
    const inv = await createInventory(api);
    const operator = await keyWithRole(api, 'operator');
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv), operator);
    const [created] = await events(`action = 'certificate_created' AND resource_id = $1`, [cert.id]);
    expect(created).toMatchObject({ actor_type: 'APIKey', resource_type: 'certificate' });
    expect(created.actor).toMatch(/^operator-/);

    const name = unique('team');
    await post(api, '/api/v1/teams', { name });
    await api.http.post('/api/v1/teams').set(api.auth()).send({ name }).expect(409);
    const teamEvents = await events(`action = 'create_team' AND details->>'name' = $1`, [name]);
    expect(teamEvents).toHaveLength(1);

    await api.http.delete(`/api/v1/owners/${inv.ownerId}`).set(api.auth()).expect(409);
    expect(await events(`action = 'delete_owner' AND resource_id = $1`, [inv.ownerId])).toHaveLength(0);
  });

  it('is append-only in the database itself', async () => {
    await post(api, '/api/v1/teams', { name: unique('team') });
    await expect(api.db.query(`UPDATE audit_events SET actor = 'mallory'`)).rejects.toThrow(/append-only/);
    await expect(api.db.query(`DELETE FROM audit_events`)).rejects.toThrow(/append-only/);
    await expect(api.db.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
  });

  it('serves list (newest first, filtered) and get', async () => {
    const team = await post(api, '/api/v1/teams', { name: unique('team') });
    const list = await api.http.get(`/api/v1/audit?resource_type=teams&resource_id=${team.id}`).set(api.auth()).expect(200);
    expect(list.body).toMatchObject({ total: 1, page: 1, per_page: 50 });
    expect(list.body.data[0]).toMatchObject({ action: 'create_team', resource_id: team.id });
    const one = await api.http.get(`/api/v1/audit/${list.body.data[0].id}`).set(api.auth()).expect(200);
    expect(one.body.row_hash).toMatch(/^[0-9a-f]{64}$/);
    const all = await api.http.get('/api/v1/audit?per_page=5').set(api.auth()).expect(200);
    const seqs = all.body.data.map((e: { seq: string }) => Number(e.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
  });

  it('chains every row by hash, and verify finds the first tampered row', async () => {
    await post(api, '/api/v1/teams', { name: unique('team') });
    await api.flushAudit();
    const intact = await api.http.get('/api/v1/audit/verify').set(api.auth()).expect(200);
    expect(intact.body).toMatchObject({ intact: true });
    expect(intact.body).not.toHaveProperty('first_break');
    expect(intact.body.rows_checked).toBeGreaterThan(3);

    // Only a superuser who disables the trigger can change a row; the chain still shows it.
    const { rows } = await api.db.query(`SELECT id, seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 2`);
    await api.db.query('ALTER TABLE audit_events DISABLE TRIGGER trg_audit_events_worm');
    await api.db.query(`UPDATE audit_events SET actor = 'mallory' WHERE id = $1`, [rows[0].id]);
    await api.db.query('ALTER TABLE audit_events ENABLE TRIGGER trg_audit_events_worm');
    const broken = await api.http.get('/api/v1/audit/verify').set(api.auth()).expect(200);
    expect(broken.body).toMatchObject({ intact: false, first_break: { id: rows[0].id, seq: Number(rows[0].seq), reason: expect.stringContaining('row_hash') } });
  });

  it('keeps the chain linear under concurrent writers', async () => {
    await Promise.all(Array.from({ length: 20 }, () => api.http.post('/api/v1/teams').set(api.auth()).send({ name: unique('par') })));
    await api.flushAudit();
    const { rows } = await api.db.query(`SELECT count(*)::int AS n, max(seq)::int AS max, count(DISTINCT prev_hash)::int AS prevs FROM audit_events`);
    expect(rows[0].max).toBe(rows[0].n);
    expect(rows[0].prevs).toBe(rows[0].n);
  });
});
