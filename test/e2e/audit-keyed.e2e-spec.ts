import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE_ROLE } from '@certctl/db';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { createApiApp } from '../../apps/api/src/app.factory';
import { AuditService } from '../../apps/api/src/common/audit/audit.service';
import { AuditCheckpointService } from '../../apps/api/src/modules/audit/audit-checkpoints.service';
import { ApiHarness, startApi } from '../support/api-harness';
import { post, unique } from '../support/fixtures';

const HMAC_KEY = `audit-hmac-${randomBytes(24).toString('hex')}`;

/**
 * What a database superuser does to rewrite history: disable the triggers, edit a row, recompute every later
 * row's unkeyed hash and the chain head, enable the triggers again.
 */
async function editAndReseal(db: Client, seq: number, details: object): Promise<void> {
  await db.query('BEGIN');
  await db.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
  await db.query('UPDATE audit_events SET details = $2 WHERE seq = $1', [seq, JSON.stringify(details)]);
  const { rows } = await db.query<{ id: string; seq: string }>('SELECT id, seq FROM audit_events WHERE seq >= $1 ORDER BY seq', [seq]);
  let prev = seq === 1 ? '' : (await db.query<{ row_hash: string }>('SELECT row_hash FROM audit_events WHERE seq = $1', [seq - 1])).rows[0]!.row_hash;
  for (const row of rows) {
    await db.query('UPDATE audit_events SET prev_hash = $2 WHERE id = $1', [row.id, prev]);
    prev = (await db.query<{ row_hash: string }>(
      'UPDATE audit_events a SET row_hash = audit_event_hash(a.prev_hash, a) WHERE id = $1 RETURNING row_hash', [row.id],
    )).rows[0]!.row_hash;
  }
  await db.query('UPDATE audit_chain_head SET last_hash = $1 WHERE id = 1', [prev]);
  await db.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
  await db.query('COMMIT');
}

async function unkeyedChainIntact(db: Client): Promise<boolean> {
  const { rows } = await db.query<{ reason: string | null }>('SELECT reason FROM audit_events_verify_chain()');
  return rows[0]!.reason === null;
}

describe('audit chain without CERTCTL_AUDIT_HMAC_KEY', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    delete process.env.CERTCTL_AUDIT_HMAC_KEY;
    api = await startApi();
  });
  afterAll(async () => api?.close());

  it('works as before but says the chain is unkeyed', async () => {
    await post(api, '/api/v1/teams', { name: unique('t') });
    await api.flushAudit();
    const res = await api.http.get('/api/v1/audit/verify').set(api.auth()).expect(200);
    // (null fields are left out of answers)
    expect(res.body).toMatchObject({ intact: true, keyed: false, checkpoints_checked: 0 });
    expect(res.body.latest_checkpoint ?? null).toBeNull();
    expect(res.body.warning).toContain('CERTCTL_AUDIT_HMAC_KEY is not set');
    expect(res.body.unsigned_rows).toBe(res.body.rows_checked);
  });
});

describe('audit chain keyed with CERTCTL_AUDIT_HMAC_KEY', () => {
  let api: ApiHarness;
  let checkpoints: AuditCheckpointService;

  beforeAll(async () => {
    // Checkpoints are signed by the test (checkpoint()) rather than on a timer, so each step is deterministic.
    api = await startApi({ CERTCTL_AUDIT_HMAC_KEY: HMAC_KEY, CERTCTL_AUDIT_CHECKPOINT_INTERVAL: '1h' });
    checkpoints = api.app.get(AuditCheckpointService);
  });
  afterAll(async () => {
    delete process.env.CERTCTL_AUDIT_HMAC_KEY;
    delete process.env.CERTCTL_AUDIT_CHECKPOINT_INTERVAL;
    await api?.close();
  });

  const verify = async () => (await api.http.get('/api/v1/audit/verify').set(api.auth()).expect(200)).body;

  it('signs the chain head; verify checks the signature', async () => {
    for (let i = 0; i < 3; i++) await post(api, '/api/v1/teams', { name: unique('t') });
    await api.flushAudit();
    const signed = await checkpoints.checkpoint();
    expect(signed?.mac).toMatch(/^[0-9a-f]{64}$/);
    expect(await checkpoints.checkpoint()).toBeUndefined(); // nothing new to sign
    const body = await verify();
    expect(body).toMatchObject({ intact: true, keyed: true, checkpoints_checked: 1, latest_checkpoint: signed, unsigned_rows: 0 });
    expect(body.first_break ?? null).toBeNull();
    expect(body.warning).toBeUndefined();
  });

  it('reports a row edited and re-sealed with the unkeyed hash as broken', async () => {
    await editAndReseal(api.db, 2, { forged: true });
    // The unkeyed chain is fooled: every hash matches again.
    expect(await unkeyedChainIntact(api.db)).toBe(true);
    const body = await verify();
    expect(body.intact).toBe(false);
    expect(body.first_break.reason).toMatch(/rewritten after checkpoint/);
    // And no new checkpoint is signed over the forged head's seq (it is already signed with the old hash).
    expect(await checkpoints.checkpoint()).toBeUndefined();
  });

  it('reports a forged checkpoint and a removed one', async () => {
    const db = api.db;
    const head = (await db.query<{ last_seq: string; last_hash: string }>('SELECT last_seq, last_hash FROM audit_chain_head')).rows[0]!;
    await db.query('INSERT INTO audit_checkpoints (seq, row_hash, mac) VALUES ($1, $2, $3)', [Number(head.last_seq) + 1000, head.last_hash, 'ab'.repeat(32)]);
    const forged = await verify();
    expect(forged.intact).toBe(false);
    expect(forged.first_break.reason).toMatch(/rewritten|invalid signature/);

    await db.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER USER');
    await db.query('DELETE FROM audit_checkpoints');
    await db.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER USER');
    const removed = await verify();
    expect(removed.intact).toBe(false);
    expect(removed.first_break.reason).toMatch(/is missing/);
    // The api refuses to vouch for a trail whose checkpoints vanished.
    expect(await checkpoints.checkpoint()).toBeUndefined();
  });
});

describe(`the apps' database role (${APP_DATABASE_ROLE})`, () => {
  let env: TestEnvironment;
  let owner: Client;
  let asApp: Client;
  let app: INestApplication | undefined;
  const loginRole = `certctl_test_app_${randomBytes(4).toString('hex')}`;
  const adminKey = `test-admin-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    env = await createTestEnvironment();
    owner = new Client({ connectionString: env.databaseUrl });
    await owner.connect();
    // A login role for this test, member of the group role the migrations grant to (cluster-wide, dropped after).
    await owner.query(`CREATE ROLE ${loginRole} LOGIN PASSWORD 'app-role-test' IN ROLE ${APP_DATABASE_ROLE}`);
    const appUrl = new URL(env.databaseUrl);
    appUrl.username = loginRole;
    appUrl.password = 'app-role-test';
    asApp = new Client({ connectionString: appUrl.toString() });
    await asApp.connect();
    Object.assign(process.env, env.env, {
      CERTCTL_DATABASE_URL: appUrl.toString(), CERTCTL_API_KEY: adminKey, CERTCTL_AUTH_TYPE: 'api-key',
      CERTCTL_AUDIT_HMAC_KEY: HMAC_KEY, CERTCTL_AUDIT_CHECKPOINT_INTERVAL: '1h',
    });
    app = await createApiApp();
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await asApp?.end();
    await owner?.query(`DROP OWNED BY ${loginRole}`).catch(() => undefined);
    await owner?.end();
    await env?.destroy();
    const cleanup = new Client({ connectionString: process.env.CERTCTL_TEST_PG_ADMIN_URL });
    await cleanup.connect();
    await cleanup.query(`DROP ROLE IF EXISTS ${loginRole}`).finally(() => cleanup.end());
    delete process.env.CERTCTL_AUDIT_HMAC_KEY;
    delete process.env.CERTCTL_AUDIT_CHECKPOINT_INTERVAL;
  });

  it('may insert audit rows (sealed at commit) but PostgreSQL refuses UPDATE, DELETE, TRUNCATE and disabling triggers', async () => {
    await asApp.query(`INSERT INTO audit_events (id, actor, actor_type, action, resource_type) VALUES ('audit-role-1', 'test', 'System', 'role.test', 'test')`);
    const sealed = (await asApp.query<{ seq: string | null; row_hash: string }>(`SELECT seq, row_hash FROM audit_events WHERE id = 'audit-role-1'`)).rows[0]!;
    expect(sealed.seq).not.toBeNull();
    expect(sealed.row_hash).toMatch(/^[0-9a-f]{64}$/);

    const refused = async (sql: string) => {
      const err = await asApp.query(sql).then(() => undefined, (e: { code?: string; message?: string }) => e);
      expect(err, sql).toBeDefined();
      expect(err!.code, `${sql}: ${err!.message}`).toBe('42501');
      return err!.message!;
    };
    expect(await refused(`UPDATE audit_events SET details = '{"forged":true}' WHERE id = 'audit-role-1'`)).toMatch(/permission denied for table audit_events/);
    expect(await refused(`DELETE FROM audit_events WHERE id = 'audit-role-1'`)).toMatch(/permission denied for table audit_events/);
    expect(await refused('TRUNCATE audit_events')).toMatch(/permission denied for table audit_events/);
    expect(await refused('ALTER TABLE audit_events DISABLE TRIGGER USER')).toMatch(/must be owner/);
    expect(await refused(`UPDATE audit_chain_head SET last_hash = 'x'`)).toMatch(/permission denied/);
    expect(await refused('DELETE FROM audit_checkpoints')).toMatch(/permission denied/);
    expect(await refused(`INSERT INTO typeorm_migrations (timestamp, name) VALUES (1, 'x')`)).toMatch(/permission denied/);
  });

  it('runs the api: inventory writes, key revocation, audit rows, checkpoints and verify all work as this role', async () => {
    const http = request(app!.getHttpServer());
    const auth = { Authorization: `Bearer ${adminKey}` };
    await http.get('/ready').expect(200);
    const team = (await http.post('/api/v1/teams').set(auth).send({ name: unique('team') }).expect(201)).body;
    await http.put(`/api/v1/teams/${team.id}`).set(auth).send({ name: unique('team2') }).expect(200);
    const owner2 = (await http.post('/api/v1/owners').set(auth).send({ name: unique('o'), email: 'o@example.com', team_id: team.id }).expect(201)).body;
    await http.delete(`/api/v1/owners/${owner2.id}`).set(auth).expect((r) => expect(r.status).toBeLessThan(300));
    const key = (await http.post('/api/v1/auth/keys').set(auth).send({ name: unique('k'), role: 'viewer' }).expect(201)).body;
    await http.delete(`/api/v1/auth/keys/${key.id}`).set(auth).expect(200);
    await app!.get(AuditService).flush();
    expect(await app!.get(AuditCheckpointService).checkpoint()).toBeDefined();
    const verified = (await http.get('/api/v1/audit/verify').set(auth).expect(200)).body;
    expect(verified).toMatchObject({ intact: true, keyed: true, unsigned_rows: 0 });
    expect(verified.rows_checked).toBeGreaterThanOrEqual(6);
  });
});
