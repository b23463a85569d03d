/**
 * Health-check probing benchmark: how many TLS health-check probes per second each of two built scanner
 * processes runs, sharing the health-check queue, and whether every check is probed exactly once.
 *
 *   npm run bench:health-checks
 *   BENCH_HC_CHECKS=20000 BENCH_HC_CONCURRENCY=100 npm run bench:health-checks
 *
 * What it does:
 *  1. (Re)creates the database `certctl_bench_health` on CERTCTL_BENCH_DATABASE_URL's server (default
 *     postgres://postgres@127.0.0.1:5432/postgres) with the real migrations; Redis from CERTCTL_BENCH_REDIS_URL
 *     (default redis://127.0.0.1:6379) under a key prefix of its own, deleted at the end.
 *  2. Starts 100 TLS listeners (node:tls, one ECDSA P-256 certificate) on loopback ports in this process.
 *  3. Starts two built scanners (`node dist/apps/scanner/src/main.js`), then inserts BENCH_HC_CHECKS (10,000)
 *     checks (100 listeners × SNI names) all due at once, with a 10-minute interval, and waits until every check
 *     has been probed. Throughput = probes / (last probe − first probe), per replica from the history rows.
 *  4. Prints the figures and writes bench/results/health-checks.json. Everything shares the machine's cores
 *     (PostgreSQL, Redis, the listeners' handshakes, both scanners), so the figures are a lower bound.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, Server } from 'node:tls';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { createCaCertificate, DEFAULT_KEY_SPEC, exportPrivateKeyPem, fingerprintSha256, generateKeyPair } from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { AppProcess } from './lib/app-process';
import { freshDatabase } from './lib/bench-dataset';

const RESULTS_FILE = resolve(__dirname, '..', '..', 'bench', 'results', 'health-checks.json');
const DATABASE = 'certctl_bench_health';
const LISTENERS = 100;

const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  checks: Number(process.env.BENCH_HC_CHECKS ?? 10_000),
  concurrency: Number(process.env.BENCH_HC_CONCURRENCY ?? 50),
  replicas: Number(process.env.BENCH_HC_REPLICAS ?? 2),
};

async function startListeners(): Promise<{ servers: Server[]; endpoints: string[]; fingerprint: string }> {
  const keys = await generateKeyPair();
  const certPem = await createCaCertificate({ keys, keySpec: DEFAULT_KEY_SPEC, commonName: 'bench.health.test', validityDays: 7 });
  const keyPem = await exportPrivateKeyPem(keys.privateKey);
  const servers: Server[] = [];
  const endpoints: string[] = [];
  for (let i = 0; i < LISTENERS; i++) {
    const port = await freePort();
    const server = createServer({ cert: certPem, key: keyPem });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((done, fail) => server.once('error', fail).listen({ host: '127.0.0.1', port, backlog: 511 }, done));
    servers.push(server);
    endpoints.push(`127.0.0.1:${port}`);
  }
  return { servers, endpoints, fingerprint: fingerprintSha256(certPem) };
}

async function main(): Promise<void> {
  const load = loadavg()[0]!;
  if (load > cpus().length) console.warn(`load average ${load.toFixed(1)} on ${cpus().length} cores: figures will be low`);
  const url = await freshDatabase(settings.adminUrl, DATABASE);
  const prefix = `bench-hc-${randomBytes(4).toString('hex')}`;
  const db = new Client({ connectionString: url });
  await db.connect();
  const { servers, endpoints, fingerprint } = await startListeners();
  const env = {
    CERTCTL_DATABASE_URL: url, CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: prefix, CERTCTL_LOG_LEVEL: 'warn',
    CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_HEALTH_CHECK_INTERVAL: '500ms',
    CERTCTL_HEALTH_CHECK_MAX_CONCURRENT: String(settings.concurrency),
  };
  const scanners: AppProcess[] = [];
  try {
    for (let i = 0; i < settings.replicas; i++) scanners.push(await AppProcess.start('scanner', env));
    await Promise.all(scanners.map((s) => s.waitReady()));
    await db.query(
      `INSERT INTO endpoint_health_checks (id, endpoint, server_name, expected_fingerprint, check_interval_seconds, timeout_ms, next_check_at)
       SELECT 'hc-bench-' || n, ($1::text[])[1 + n % $2], 'name' || (n / $2) || '.bench.test', $3, 600, 10000, now() + interval '1 second'
         FROM generate_series(0, $4 - 1) AS n`,
      [endpoints, LISTENERS, fingerprint, settings.checks]);
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const n = Number((await db.query('SELECT count(*) AS n FROM endpoint_health_history')).rows[0].n);
      if (n >= settings.checks) break;
      if (Date.now() > deadline) throw new Error(`only ${n} of ${settings.checks} probes after 10 minutes`);
      await sleep(250);
    }
    await sleep(2_000); // a double probe would land now
    const rows = (await db.query(
      `SELECT probed_by, count(*)::int AS probes, min(checked_at) AS first, max(checked_at) AS last FROM endpoint_health_history GROUP BY probed_by ORDER BY probed_by`)).rows;
    const first = Math.min(...rows.map((r) => Date.parse(r.first)));
    const last = Math.max(...rows.map((r) => Date.parse(r.last)));
    const seconds = (last - first) / 1000;
    const total = rows.reduce((n, r) => n + r.probes, 0);
    const distinct = Number((await db.query('SELECT count(DISTINCT health_check_id) AS n FROM endpoint_health_history')).rows[0].n);
    const healthy = Number((await db.query(`SELECT count(*) AS n FROM endpoint_health_checks WHERE status = 'healthy'`)).rows[0].n);
    const result = {
      measured_at: new Date().toISOString(),
      machine: { cpus: cpus().length, load_average_at_start: Number(load.toFixed(2)) },
      settings: { checks: settings.checks, listeners: LISTENERS, replicas: settings.replicas, max_concurrent_per_replica: settings.concurrency },
      probes_total: total,
      checks_probed: distinct,
      double_probes: total - distinct,
      healthy,
      seconds: Number(seconds.toFixed(2)),
      probes_per_second_total: Math.round(total / seconds),
      per_replica: rows.map((r, i) => ({ replica: i + 1, probes: r.probes, probes_per_second: Math.round(r.probes / seconds) })),
    };
    console.table(result.per_replica);
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(dirname(RESULTS_FILE), { recursive: true });
    writeFileSync(RESULTS_FILE, JSON.stringify(result, null, 2) + '\n');
  } finally {
    await Promise.all(scanners.map((s) => s.stop()));
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
    await db.end();
    const redis = new Redis(settings.redisUrl);
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
