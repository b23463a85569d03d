/**
 * Scrape-time benchmark of GET /api/v1/metrics/prometheus at 100,000 and 1,000,000 certificates.
 *
 *   npm run bench:metrics                    build, seed, measure, write bench/results/metrics.json
 *   BENCH_REUSE=1 npm run bench:metrics      keep an already seeded certctl_bench_metrics database
 *   BENCH_SCRAPE_S=20 BENCH_COLD=8 npm run bench:metrics
 *
 * Per size: the database `certctl_bench_metrics` (server of CERTCTL_BENCH_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres) holds the bench inventory (bench/lib/bench-dataset.ts, 100,000
 * certificates) and, for 1,000,000, nine more copies of it under new ids; then VACUUM ANALYZE. The built api runs
 * against it and Redis (CERTCTL_BENCH_REDIS_URL). Two measurements:
 *  - cold: BENCH_COLD (default 8) scrapes, each after the api's snapshot has expired (5 s apart), so every one runs
 *    the aggregate query and reads the Redis counters: what a scrape costs at worst;
 *  - steady: one Prometheus-like client scraping back to back for BENCH_SCRAPE_S (default 15) seconds; most
 *    answers come from the few-seconds snapshot, a refresh every 5 s.
 * Target: p99 < 100 ms at 1,000,000 (cold, the worst case, is what is compared). The load generator shares the
 * machine with the api and PostgreSQL. A missed target does not fail the process; an error does (exit 1).
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { ApiProcess } from './lib/api-process';
import { DATASET, prepareDataset, withDatabase } from './lib/bench-dataset';
import { httpGet, LoadResult, summarize } from './lib/http-load';

const RESULTS_FILE = resolve(__dirname, '..', '..', 'bench', 'results', 'metrics.json');
const DATABASE = 'certctl_bench_metrics';
const SIZES = [100_000, 1_000_000];
const TARGET_P99_MS = 100;
const SNAPSHOT_TTL_MS = 5_000;

interface SizeResult {
  certificates: number;
  seed_seconds: number;
  cold: LoadResult['latencyMs'] & { samples: number };
  steady: LoadResult['latencyMs'] & { samples: number; scrapes_per_s: number };
  body_bytes: number;
  certctl_certificate_total: number;
}

async function main(): Promise<void> {
  const env = process.env;
  const adminUrl = env.CERTCTL_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = env.CERTCTL_BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
  const scrapeS = Number(env.BENCH_SCRAPE_S || 15);
  const coldN = Number(env.BENCH_COLD || 8);
  const url = withDatabase(adminUrl, DATABASE);
  const results: SizeResult[] = [];

  for (const size of SIZES) {
    const started = Date.now();
    const reuse = env.BENCH_REUSE === '1' && size === DATASET.certificates;
    if (size === DATASET.certificates) await prepareDataset(adminUrl, DATABASE, reuse);
    else await growTo(url, size);
    const seedSeconds = (Date.now() - started) / 1000;

    const apiKey = `bench-${randomBytes(16).toString('hex')}`;
    const api = await ApiProcess.start({
      CERTCTL_DATABASE_URL: url, CERTCTL_REDIS_URL: redisUrl, CERTCTL_QUEUE_PREFIX: 'certctl-bench-metrics',
      CERTCTL_API_KEY: apiKey, CERTCTL_LOG_LEVEL: 'warn', CERTCTL_DEMO_SEED: 'false',
    });
    try {
      await api.waitReady();
      const headers = { Authorization: `Bearer ${apiKey}` };
      const scrape = async () => {
        const t = process.hrtime.bigint();
        const res = await httpGet(api.baseUrl, '/api/v1/metrics/prometheus', headers);
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${res.body.slice(0, 300)}`);
        return { ms, body: res.body };
      };
      const first = await scrape();
      const total = Number(/^certctl_certificate_total(?:\{[^}]*\})? (\d+)/m.exec(first.body)?.[1]);
      if (!(total >= size * 0.99)) throw new Error(`certctl_certificate_total is ${total}, expected about ${size}`);

      const cold: number[] = [];
      for (let i = 0; i < coldN; i++) {
        await sleep(SNAPSHOT_TTL_MS + 200);
        cold.push((await scrape()).ms);
      }
      const steady: number[] = [];
      const until = Date.now() + scrapeS * 1000;
      while (Date.now() < until) steady.push((await scrape()).ms);

      results.push({
        certificates: size,
        seed_seconds: Math.round(seedSeconds * 10) / 10,
        cold: { ...summarize(cold), samples: cold.length },
        steady: { ...summarize(steady), samples: steady.length, scrapes_per_s: Math.round(steady.length / scrapeS) },
        body_bytes: Buffer.byteLength(first.body),
        certctl_certificate_total: total,
      });
      process.stdout.write(`${size.toLocaleString('en')} certificates: cold p50 ${summarize(cold).p50} ms p99 ${summarize(cold).p99} ms; `
        + `steady p50 ${summarize(steady).p50} ms p99 ${summarize(steady).p99} ms (${steady.length} scrapes)\n`);
    } finally {
      await api.stop();
    }
  }

  const largest = results[results.length - 1]!;
  const report = {
    benchmark: 'metrics',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
    method: 'cold: every scrape after the 5 s snapshot expired (aggregate query + Redis counters); steady: back-to-back scrapes by one client',
    results,
    target: { metric: 'cold p99 at 1,000,000 certificates', threshold_ms: TARGET_P99_MS, value_ms: largest.cold.p99, met: largest.cold.p99 < TARGET_P99_MS },
  };
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`target p99 < ${TARGET_P99_MS} ms at 1,000,000 (cold): ${report.target.met ? 'met' : 'MISSED'} (${largest.cold.p99} ms); ${RESULTS_FILE}\n`);
}

/** Copies the 100,000 seeded certificates under new ids until the inventory holds `size`. */
async function growTo(url: string, size: number): Promise<void> {
  const db = new Client({ connectionString: url, application_name: 'certctl-bench-metrics' });
  await db.connect();
  try {
    const copies = Math.round(size / DATASET.certificates) - 1;
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM managed_certificates');
    if (Number(rows[0]?.n) >= size) return;
    await db.query(`
      INSERT INTO managed_certificates (id, name, common_name, sans, environment, owner_id, team_id, issuer_id,
                                        renewal_policy_id, status, expires_at, tags, source, created_at, updated_at)
      SELECT c.id || '-x' || k, 'x' || k || '.' || c.name, 'x' || k || '.' || c.common_name, c.sans, c.environment, c.owner_id, c.team_id, c.issuer_id,
             c.renewal_policy_id, c.status, c.expires_at + k * interval '1 day', c.tags, c.source, c.created_at, c.updated_at
      FROM managed_certificates c CROSS JOIN generate_series(1, $1::int) AS k
      WHERE c.id LIKE 'mc-bench-%' AND c.id NOT LIKE '%-x%'`, [copies]);
    await db.query('VACUUM ANALYZE managed_certificates');
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:metrics failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
