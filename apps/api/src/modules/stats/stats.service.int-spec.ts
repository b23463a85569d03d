import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '@certctl/config';
import { dataSourceOptions } from '@certctl/db';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { InventoryCounts, StatsService } from './stats.service';

const STATUSES = ['Pending', 'Active', 'Expiring', 'Expired', 'RenewalInProgress', 'Failed', 'Revoked', 'Archived'];
const JOB_STATUSES = ['Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running', 'Completed', 'Failed', 'Cancelled'];
const HOUR = 3_600_000;

/**
 * The definition the incremental counts must agree with: a full scan of each table, as the summary was computed
 * before status_count_deltas existed.
 */
const FULL_SCAN_ORACLE = `
  SELECT
    (SELECT count(*) FROM managed_certificates WHERE status <> 'Archived') AS total_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status = 'Active' AND (expires_at IS NULL OR expires_at >= now() + interval '30 days')) AS active_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status NOT IN ('Archived', 'Revoked') AND expires_at >= now() AND expires_at < now() + interval '30 days') AS expiring_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status NOT IN ('Archived', 'Revoked') AND expires_at >= now() AND expires_at < now() + interval '7 days') AS expiring_7d_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status NOT IN ('Archived', 'Revoked') AND expires_at < now()) AS expired_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status = 'Revoked') AS revoked_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status = 'Pending') AS pending_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status = 'Failed') AS failed_certificates,
    (SELECT count(*) FROM managed_certificates WHERE status = 'Archived') AS archived_certificates,
    (SELECT count(*) FROM jobs WHERE status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval')) AS pending_jobs,
    (SELECT count(*) FROM jobs WHERE status = 'Running') AS running_jobs,
    (SELECT count(*) FROM jobs WHERE status = 'Failed') AS failed_jobs,
    (SELECT count(*) FROM jobs WHERE status = 'Completed') AS complete_jobs,
    (SELECT count(*) FROM notification_events WHERE status = 'dead') AS notifications_dead`;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

describe('inventory counts kept incrementally (status_count_deltas)', () => {
  let env: TestEnvironment;
  let db: Client;
  let ds: DataSource;
  let stats: StatsService;

  beforeAll(async () => {
    env = await createTestEnvironment();
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    ds = await new DataSource(dataSourceOptions({ url: env.databaseUrl })).initialize();
    stats = new StatsService(ds, { server: { readCacheTtlMs: 0 } } as AppConfig);
    await db.query(`
      INSERT INTO owners (id, name, email) VALUES ('o-counts', 'counts', 'counts@example.test');
      INSERT INTO renewal_policies (id, name) VALUES ('rp-counts', 'counts');
      INSERT INTO issuers (id, name, type) VALUES ('iss-counts', 'counts', 'GenericCA');
    `);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.end();
    await env?.destroy();
  });

  async function oracle(): Promise<Record<string, number>> {
    const { rows } = await db.query(FULL_SCAN_ORACLE);
    return Object.fromEntries(Object.entries(rows[0] as Record<string, string>).map(([k, v]) => [k, Number(v)]));
  }

  function comparable(counts: InventoryCounts): Record<string, number> {
    const { completed_at: _at, total_agents: _t, active_agents: _a, offline_agents: _o, running_jobs, ...rest } = counts;
    return { ...rest, running_jobs };
  }

  it('agrees with a full scan after inserts, status and expiry changes, deletes and a compaction, boundary days included', async () => {
    const next = random(20261127);
    const now = Date.now();
    // Expiries spread over ±60 days, many of them within an hour of the 0/7/30-day boundaries.
    const expiry = (): Date | null => {
      const r = next();
      if (r < 0.1) return null;
      if (r < 0.5) return new Date(now + ([0, 7, 30][Math.floor(next() * 3)]! * 24 + (next() * 2 - 1)) * HOUR);
      return new Date(now + (next() * 120 - 60) * 24 * HOUR);
    };
    const ids = Array.from({ length: 400 }, (_, i) => `mc-counts-${i}`);
    // Several statements of different sizes, so multi-row transition tables are exercised too.
    for (let i = 0; i < ids.length; i += 50) {
      const chunk = ids.slice(i, i + 50);
      await db.query(
        `INSERT INTO managed_certificates (id, name, common_name, owner_id, issuer_id, renewal_policy_id, status, expires_at)
         SELECT id, id, id || '.example.test', 'o-counts', 'iss-counts', 'rp-counts', status, expires_at
           FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(id, status, expires_at)`,
        [chunk, chunk.map(() => STATUSES[Math.floor(next() * STATUSES.length)]), chunk.map(expiry)],
      );
    }
    expect(comparable(await stats.counts())).toEqual(await oracle());

    for (let round = 0; round < 60; round++) {
      const id = ids[Math.floor(next() * ids.length)]!;
      const r = next();
      if (r < 0.4) await db.query(`UPDATE managed_certificates SET status = $2 WHERE id = $1`, [id, STATUSES[Math.floor(next() * STATUSES.length)]]);
      else if (r < 0.7) await db.query(`UPDATE managed_certificates SET expires_at = $2 WHERE id = $1`, [id, expiry()]);
      else if (r < 0.8) await db.query(`UPDATE managed_certificates SET last_deployment_at = now() WHERE id = $1`, [id]);
      else if (r < 0.9) await db.query(`UPDATE managed_certificates SET status = 'Archived' WHERE status = $1`, [STATUSES[Math.floor(next() * 6)]]);
      else await db.query(`DELETE FROM managed_certificates WHERE id = $1`, [id]);
    }
    expect(comparable(await stats.counts())).toEqual(await oracle());

    // Jobs and notification events, with a transaction that rolls back (its deltas must vanish with it).
    const live = (await db.query(`SELECT id FROM managed_certificates ORDER BY id LIMIT 20`)).rows.map((r) => r.id as string);
    for (const [i, certificateId] of live.entries()) {
      await db.query(`INSERT INTO jobs (id, type, certificate_id, status) VALUES ($1, 'Renewal', $2, $3)`,
        [`job-counts-${i}`, certificateId, JOB_STATUSES[i % JOB_STATUSES.length]]);
      await db.query(`INSERT INTO notification_events (id, type, channel, recipient, message, status) VALUES ($1, 'ExpirationWarning', 'Email', 'ops@example.test', 'm', $2)`,
        [`notif-counts-${i}`, i % 3 ? 'pending' : 'dead']);
    }
    await db.query(`UPDATE jobs SET status = 'Completed' WHERE status = 'Running'`);
    await db.query('BEGIN');
    await db.query(`UPDATE jobs SET status = 'Failed'`);
    await db.query('ROLLBACK');
    await db.query(`UPDATE notification_events SET status = 'dead' WHERE id = 'notif-counts-1'`);
    expect(comparable(await stats.counts())).toEqual(await oracle());

    const before = Number((await db.query(`SELECT count(*) FROM status_count_deltas`)).rows[0].count);
    await db.query(`SELECT compact_status_count_deltas()`);
    const after = Number((await db.query(`SELECT count(*) FROM status_count_deltas`)).rows[0].count);
    expect(after).toBeLessThan(before);
    expect(comparable(await stats.counts())).toEqual(await oracle());

    await db.query(`DELETE FROM managed_certificates`); // jobs cascade
    expect(comparable(await stats.counts())).toEqual(await oracle());
    expect((await stats.counts()).total_certificates).toBe(0);
  });

  it("a team-scoped caller's summary and charts agree with a full scan of its team's rows", async () => {
    await db.query(`INSERT INTO teams (id, name) VALUES ('team-a', 'a'), ('team-b', 'b') ON CONFLICT DO NOTHING`);
    const next = random(20261206);
    const ids = Array.from({ length: 200 }, (_, i) => `mc-scoped-${i}`);
    await db.query(
      `INSERT INTO managed_certificates (id, name, common_name, owner_id, issuer_id, renewal_policy_id, status, expires_at, team_id)
       SELECT id, id, id || '.example.test', 'o-counts', 'iss-counts', 'rp-counts', status, expires_at, team
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS t(id, status, expires_at, team)`,
      [ids, ids.map(() => STATUSES[Math.floor(next() * STATUSES.length)]), ids.map(() => new Date(Date.now() + (next() * 120 - 60) * 24 * HOUR)),
        ids.map(() => (next() < 0.3 ? 'team-a' : 'team-b'))],
    );
    for (const [i, certificateId] of ids.slice(0, 60).entries()) {
      await db.query(`INSERT INTO jobs (id, type, certificate_id, status) VALUES ($1, 'Renewal', $2, $3)`, [`job-scoped-${i}`, certificateId, JOB_STATUSES[i % JOB_STATUSES.length]]);
      await db.query(`INSERT INTO notification_events (id, type, channel, recipient, message, status, certificate_id) VALUES ($1, 'ExpirationWarning', 'Email', 'ops@example.test', 'm', $2, $3)`,
        [`notif-scoped-${i}`, i % 3 ? 'pending' : 'dead', certificateId]);
    }
    const teamOnly = FULL_SCAN_ORACLE
      .replaceAll('FROM managed_certificates WHERE', `FROM managed_certificates WHERE team_id = 'team-a' AND`)
      .replaceAll('FROM jobs WHERE', `FROM jobs WHERE certificate_id IN (SELECT id FROM managed_certificates WHERE team_id = 'team-a') AND`)
      .replaceAll('FROM notification_events WHERE', `FROM notification_events WHERE certificate_id IN (SELECT id FROM managed_certificates WHERE team_id = 'team-a') AND`);
    const { expiring_7d_certificates: _7d, ...expected } = Object.fromEntries(Object.entries((await db.query(teamOnly)).rows[0] as Record<string, string>).map(([k, v]) => [k, Number(v)]));
    const operatorA = { actor: 'op-a', actor_type: 'APIKey' as const, role: 'operator' as const, grants: [{ permission: 'stats.read', scope_type: 'team' as const, scope_id: 'team-a' }] };
    const { completed_at: _at, total_agents: _t, active_agents: _a, offline_agents: _o, ...summary } = await stats.summary(operatorA);
    expect(summary).toEqual(expected);
    expect(summary.total_certificates).toBeGreaterThan(0);
    expect(summary.total_certificates).toBeLessThan((await stats.summary()).total_certificates);
    const byStatus = await stats.certificatesByStatus(operatorA);
    const teamRows = Number((await db.query(`SELECT count(*) FROM managed_certificates WHERE team_id = 'team-a'`)).rows[0].count);
    expect(byStatus.reduce((sum, s) => sum + s.count, 0)).toBe(teamRows);
    await db.query(`DELETE FROM notification_events WHERE id LIKE 'notif-scoped-%'`);
    await db.query(`DELETE FROM managed_certificates WHERE id LIKE 'mc-scoped-%'`);
  });

  it('a truncated table counts zero', async () => {
    await db.query(`TRUNCATE notification_events`);
    expect((await stats.counts()).notifications_dead).toBe(0);
  });
});
