/**
 * Readiness report (GET /reports/readiness) at 100,000 certificates: ReadinessService in this process against the
 * bench inventory (bench/lib/bench-dataset.ts) in a database of its own, so the figure is the report's own cost
 * (SQL and assembly), not HTTP's. Not a test, and not part of bench:web (which times the console's page).
 *
 *   npx tsx bench/readiness.bench.ts                  seed (or reuse) certctl_bench_readiness, time pages, print medians
 *   BENCH_RUNS=9 BENCH_REUSE=0 npx tsx bench/readiness.bench.ts
 *
 * Each run asks for page 1, page 1,000 (offset 49,950) and the team-filtered page 1, twice: with the per-team/issuer
 * totals recomputed for every page (read cache off) and with the api's default CERTCTL_READ_CACHE_TTL (5 s), where
 * paging on reuses them. The first run warms the CAA cache (DNS answers are cached per name and CA, as in the api)
 * and is reported apart; the others are timed. The CSV export of the whole report is timed once (streamed).
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import type { AppConfig } from '@certctl/config';
import { CaaChecks } from '../apps/api/src/modules/reports/caa-checks';
import { ReadinessService } from '../apps/api/src/modules/reports/readiness.service';
import { DATASET, prepareDataset, withDatabase } from './lib/bench-dataset';

const DATABASE = 'certctl_bench_readiness';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const adminUrl = process.env.CERTCTL_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const runs = Number(process.env.BENCH_RUNS || 5);
  await prepareDataset(adminUrl, DATABASE, process.env.BENCH_REUSE !== '0');
  const dataSource = new DataSource({ type: 'postgres', url: withDatabase(adminUrl, DATABASE), poolSize: 10 });
  await dataSource.initialize();
  const config = (readCacheTtlMs: number) => ({
    server: { readCacheTtlMs }, reports: { caaCacheTtlMs: 5 * 60_000 }, acme: { caaResolver: process.env.CERTCTL_CAA_RESOLVER },
  }) as unknown as AppConfig;
  const caa = new CaaChecks(dataSource, config(0));
  const services = { uncached: new ReadinessService(dataSource, caa, config(0)), read_cache_5s: new ReadinessService(dataSource, caa, config(5000)) };
  const team = (await dataSource.query<Array<{ id: string }>>('SELECT id FROM teams ORDER BY id LIMIT 1'))[0]!.id;
  const cases = { first_page: { page: 1, per_page: 50 }, page_1000: { page: 1000, per_page: 50 }, team_first_page: { page: 1, per_page: 50, team_id: team } };
  const times: Record<string, number[]> = {};
  const firstRun: Record<string, number> = {};
  try {
    for (let run = 0; run <= runs; run++) {
      for (const [mode, service] of Object.entries(services)) {
        for (const [name, query] of Object.entries(cases)) {
          const started = performance.now();
          const report = await service.report(query);
          const ms = Math.round(performance.now() - started);
          if (report.data.length !== 50 || report.total < 1000) throw new Error(`${name}: ${report.data.length} rows of ${report.total}`);
          if (run === 0) firstRun[`${mode}.${name}`] = ms;
          else (times[`${mode}.${name}`] ??= []).push(ms);
        }
      }
    }
    const started = performance.now();
    let lines = 0;
    for await (const chunk of services.uncached.csv({})) lines += chunk.split('\r\n').length - 1;
    const csvMs = performance.now() - started;
    if (lines !== DATASET.certificates + 1) throw new Error(`CSV has ${lines} lines`);
    const summary = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, `${median(xs)} [${Math.min(...xs)}–${Math.max(...xs)}] ms n=${xs.length}`]));
    console.log(JSON.stringify({ at: new Date().toISOString(), certificates: DATASET.certificates, pages: summary, first_run_ms: firstRun, csv: { ms: Math.round(csvMs), lines } }, null, 2));
  } finally {
    await dataSource.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
