import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '@certctl/config';
import { dataSourceOptions } from '@certctl/db';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { StatsService } from './stats.service';

const STATUSES = ['Pending', 'Active', 'Expiring', 'Expired', 'RenewalInProgress', 'Failed', 'Revoked', 'Archived'];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe('dashboard charts (certctl shapes) agree with full scans of the tables', () => {
  let env: TestEnvironment;
  let db: Client;
  let ds: DataSource;
  let stats: StatsService;
  const now = Date.now();

  beforeAll(async () => {
    env = await createTestEnvironment();
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    ds = await new DataSource(dataSourceOptions({ url: env.databaseUrl })).initialize();
    stats = new StatsService(ds, { server: { readCacheTtlMs: 0 } } as AppConfig);
    await db.query(`
      INSERT INTO owners (id, name, email) VALUES ('o-charts', 'charts', 'charts@example.test');
      INSERT INTO renewal_policies (id, name) VALUES ('rp-charts', 'charts');
      INSERT INTO issuers (id, name, type) VALUES ('iss-charts', 'charts', 'GenericCA');
    `);
    const next = random(20261202);
    const ids = Array.from({ length: 600 }, (_, i) => `mc-charts-${i}`);
    // Expiries over -40..+100 days, a third of them within two hours of now or of a UTC midnight.
    const expiry = (): Date | null => {
      const r = next();
      if (r < 0.05) return null;
      if (r < 0.2) return new Date(now + (next() * 4 - 2) * HOUR);
      if (r < 0.35) return new Date(Math.floor(now / DAY) * DAY + Math.floor(next() * 95) * DAY + (next() * 4 - 2) * HOUR);
      return new Date(now + (next() * 140 - 40) * DAY);
    };
    await db.query(
      `INSERT INTO managed_certificates (id, name, common_name, owner_id, issuer_id, renewal_policy_id, status, expires_at)
       SELECT id, id, id || '.example.test', 'o-charts', 'iss-charts', 'rp-charts', status, expires_at
         FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(id, status, expires_at)`,
      [ids, ids.map(() => STATUSES[Math.floor(next() * STATUSES.length)]), ids.map(expiry)],
    );
    // Jobs finished over the last 45 days (some unfinished), versions issued over the last 45 days.
    const jobStatuses = ['Completed', 'Completed', 'Failed', 'Running', 'Pending'];
    const jobs = ids.slice(0, 400).map((id, i) => {
      const status = jobStatuses[Math.floor(next() * jobStatuses.length)]!;
      return [`job-charts-${i}`, id, status, status === 'Completed' || status === 'Failed' ? new Date(now - next() * 45 * DAY) : null] as const;
    });
    await db.query(
      `INSERT INTO jobs (id, type, certificate_id, status, completed_at)
       SELECT id, 'Renewal', certificate_id, status, completed_at FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(id, certificate_id, status, completed_at)`,
      [jobs.map((j) => j[0]), jobs.map((j) => j[1]), jobs.map((j) => j[2]), jobs.map((j) => j[3])],
    );
    const versions = ids.slice(0, 300).map((id, i) => [`cv-charts-${i}`, id, new Date(now - next() * 45 * DAY)] as const);
    await db.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, created_at)
       SELECT id, certificate_id, id, now(), now() + interval '90 days', id, '', created_at
         FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(id, certificate_id, created_at)`,
      [versions.map((v) => v[0]), versions.map((v) => v[1]), versions.map((v) => v[2])],
    );
    // A few changes after the inserts, so the answer must come from the summed deltas.
    await db.query(`UPDATE managed_certificates SET status = 'Active' WHERE id IN ('mc-charts-1', 'mc-charts-2', 'mc-charts-3')`);
    await db.query(`UPDATE managed_certificates SET expires_at = now() + interval '3 days' WHERE id = 'mc-charts-4'`);
    await db.query(`DELETE FROM managed_certificates WHERE id = 'mc-charts-599'`);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.end();
    await env?.destroy();
  });

  it('certificates-by-status: stored statuses, with Active split into Active / Expiring (30 days) / Expired', async () => {
    const { rows } = await db.query(`
      SELECT s AS status, count(*)::int AS count FROM (
        SELECT CASE WHEN status = 'Active' AND expires_at < now() THEN 'Expired'
                    WHEN status = 'Active' AND expires_at < now() + interval '30 days' THEN 'Expiring'
                    ELSE status END AS s FROM managed_certificates) t
      GROUP BY s ORDER BY s`);
    expect(await stats.certificatesByStatus()).toEqual(rows);
  });

  it('expiration-timeline: one bucket per UTC day from today, live certificates expiring from now on', async () => {
    for (const days of [1, 30, 90]) {
      const { rows } = await db.query(`
        SELECT to_char((expires_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date, count(*)::int AS count FROM managed_certificates
         WHERE status NOT IN ('Archived', 'Revoked') AND expires_at >= now()
           AND expires_at < ((now() AT TIME ZONE 'UTC')::date + $1::int)::timestamp AT TIME ZONE 'UTC'
         GROUP BY 1`, [days]);
      const expected = Array.from({ length: days }, (_, i) => {
        const date = utcDate(now + i * DAY);
        return { date, count: rows.find((r) => r.date === date)?.count ?? 0 };
      });
      const timeline = await stats.expirationTimeline(days);
      expect(timeline).toEqual(expected);
      expect(timeline.reduce((sum, b) => sum + b.count, 0)).toBeGreaterThan(0);
    }
  });

  it('job-trends: completed and failed jobs per UTC day of completion over the last N days, with the success rate', async () => {
    const { rows } = await db.query(`
      SELECT to_char((completed_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date,
             count(*) FILTER (WHERE status = 'Completed')::int AS c, count(*) FILTER (WHERE status = 'Failed')::int AS f
        FROM jobs WHERE completed_at IS NOT NULL AND status IN ('Completed', 'Failed') GROUP BY 1`);
    const trends = await stats.jobTrends(30);
    expect(trends).toHaveLength(30);
    expect(trends[29]!.date).toBe(utcDate(now));
    for (const point of trends) {
      const row = rows.find((r) => r.date === point.date);
      const c = row?.c ?? 0;
      const f = row?.f ?? 0;
      expect(point).toEqual({ date: point.date, completed_count: c, failed_count: f, success_rate: c + f ? (c / (c + f)) * 100 : 0 });
    }
    expect(trends.reduce((sum, p) => sum + p.completed_count + p.failed_count, 0)).toBeGreaterThan(0);
  });

  it('issuance-rate: versions issued per UTC day over the last N days', async () => {
    const { rows } = await db.query(`
      SELECT to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date, count(*)::int AS n FROM certificate_versions GROUP BY 1`);
    const rate = await stats.issuanceRate(7);
    expect(rate.map((p) => p.date)).toEqual(Array.from({ length: 7 }, (_, i) => utcDate(now - (6 - i) * DAY)));
    expect(rate).toEqual(rate.map((p) => ({ date: p.date, issued_count: rows.find((r) => r.date === p.date)?.n ?? 0 })));
    expect(rate.reduce((sum, p) => sum + p.issued_count, 0)).toBeGreaterThan(0);
  });
});
