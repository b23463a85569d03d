import type { Server } from 'node:net';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnvironment, freePort, TestEnvironment } from '@certctl/testing';
import { SourceAppProcess } from '../support/source-app-process';
import { closeAll, startTlsListener, TestPki } from '../support/tls-fleet';

const CHECKS = 10_000;
const LISTENERS = 100;
/** Long enough for a round to drain on a busy shared 2-core machine. */
const INTERVAL_S = 120;

/**
 * 10,000 checks on loopback TLS listeners (100 listeners × 100 SNI names, in this process), probed by two
 * scanner replicas running as child processes that share the health-check queue: every check is probed
 * exactly once per interval (no double probes, none skipped), and both replicas take part.
 */
describe('health checks at scale', () => {
  let env: TestEnvironment;
  let db: Client;
  const servers: Server[] = [];
  const scanners: SourceAppProcess[] = [];

  beforeAll(async () => {
    env = await createTestEnvironment();
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    const pki = await TestPki.create();
    const identity = await pki.leaf('fleet.health.test');
    const endpoints: string[] = [];
    for (let i = 0; i < LISTENERS; i++) {
      const port = await freePort();
      servers.push(await startTlsListener('127.0.0.1', port, identity));
      endpoints.push(`127.0.0.1:${port}`);
    }
    const scannerEnv = {
      ...env.env, CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_HEALTH_CHECK_INTERVAL: '500ms', CERTCTL_HEALTH_CHECK_MAX_CONCURRENT: '50', CERTCTL_SCANNER_PORT: '0',
    };
    scanners.push(...await Promise.all([SourceAppProcess.start('scanner', scannerEnv), SourceAppProcess.start('scanner', scannerEnv)]));
    // Rows straight into the table (10,000 POSTs would test the api, not the probing): all due at once.
    await db.query(
      `INSERT INTO endpoint_health_checks (id, endpoint, server_name, expected_fingerprint, check_interval_seconds, timeout_ms, next_check_at)
       SELECT 'hc-scale-' || n, ($1::text[])[1 + n % $2], 'name' || (n / $2) || '.fleet.test', $3, $4, 10000, now() + interval '1 second'
         FROM generate_series(0, $5 - 1) AS n`,
      [endpoints, LISTENERS, identity.fingerprint, INTERVAL_S, CHECKS]);
  });
  afterAll(async () => {
    await Promise.all(scanners.map((s) => s.stop()));
    await closeAll(servers);
    await db?.end();
    await env?.destroy();
  });

  const count = async (sql: string) => Number((await db.query(sql)).rows[0].n);
  const waitForHistory = async (rows: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let n = 0;
    while ((n = await count('SELECT count(*) AS n FROM endpoint_health_history')) < rows) {
      if (Date.now() > deadline) expect.fail(`only ${n} of ${rows} probes within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  it('probes each of 10,000 checks exactly once per interval across two replicas', { timeout: 600_000 }, async () => {
    // Round 1: everything due at once, drained by both replicas.
    await waitForHistory(CHECKS, 240_000);
    const round1 = (await db.query(
      `SELECT probed_by, count(*)::int AS n, min(checked_at) AS first, max(checked_at) AS last FROM endpoint_health_history GROUP BY probed_by`)).rows;
    const first = Math.min(...round1.map((r) => Date.parse(r.first)));
    const last = Math.max(...round1.map((r) => Date.parse(r.last)));
    const seconds = Math.max((last - first) / 1000, 0.001);
    const perReplica = round1.map((r) => ({ probes: r.n, per_second: Math.round(r.n / seconds) }));
    console.log(`[health-checks-scale] round 1: ${CHECKS} probes in ${seconds.toFixed(1)} s (${Math.round(CHECKS / seconds)}/s); per replica: ${JSON.stringify(perReplica)}`);
    expect(round1).toHaveLength(2); // both replicas took part
    for (const r of round1) expect(r.n).toBeGreaterThan(CHECKS * 0.2);
    const doubled = (await db.query(
      `SELECT health_check_id, array_agg(probed_by || ' ' || checked_at::text ORDER BY checked_at) AS probes
         FROM endpoint_health_history GROUP BY health_check_id HAVING count(*) > 1 LIMIT 3`)).rows;
    expect(doubled, 'checks probed twice in round 1').toEqual([]);
    expect(await count(`SELECT count(DISTINCT health_check_id) AS n FROM endpoint_health_history`)).toBe(CHECKS);
    // Reached and serving the expected certificate; on an overloaded machine a handshake may time out (then the
    // check stays unknown below its degraded threshold), which says nothing about scheduling.
    const healthy = await count(`SELECT count(*) AS n FROM endpoint_health_checks WHERE status = 'healthy'`);
    expect(healthy).toBeGreaterThan(CHECKS * 0.95);
    expect(await count(`SELECT count(*) AS n FROM endpoint_health_checks WHERE status NOT IN ('healthy', 'unknown')`)).toBe(0);
    // Each claim moved its check one interval on from when it was due.
    expect(await count(`SELECT count(*) AS n FROM endpoint_health_checks WHERE next_check_at < now() + interval '${INTERVAL_S - 10 - Math.ceil((Date.now() - first) / 1000)} seconds'`)).toBe(0);

    // Round 2, one interval later.
    await waitForHistory(CHECKS * 2, (INTERVAL_S + 240) * 1000);
    await new Promise((r) => setTimeout(r, 2_000)); // anything double-probed would land now
    const perCheck = (await db.query(
      `SELECT count(*)::int AS probes, EXTRACT(EPOCH FROM max(checked_at) - min(checked_at)) AS gap
         FROM endpoint_health_history GROUP BY health_check_id`)).rows;
    expect(perCheck).toHaveLength(CHECKS);
    expect(perCheck.filter((c) => c.probes !== 2)).toEqual([]);
    // The second probe of each check came about one interval after the first: never a back-to-back double probe.
    expect(Math.min(...perCheck.map((c) => Number(c.gap)))).toBeGreaterThan(INTERVAL_S / 2);
  });
});
