/**
 * Idle memory of every app: the README's "Operations → Memory" figures, taken the way `npm start` runs them.
 *
 *   npm run bench:rss            (BENCH_ROUNDS rounds, default 3; BENCH_IDLE_S seconds idle, default 30)
 *   BENCH_QUICK=1 npm run bench:rss
 *
 * Per round: a fresh database certctl_bench_rss with the real migrations and the demo inventory of `npm start`,
 * then the five built apps (api, orchestrator, notifier, scanner, responder) started together at the shipped log
 * level, each waited for on /ready; after BENCH_IDLE_S seconds with no request but the readiness probes, each
 * process's VmRSS (from /proc) is read, and each app's V8 heap in use from its /metrics. A bare `node` started
 * beside them is the floor. The figure per app is the median of the rounds [min–max].
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedDemoInventory } from '../scripts/demo-seed';
import { AppName, AppProcess } from './lib/app-process';
import { freshDatabase } from './lib/bench-dataset';
import { round } from './lib/http-load';
import { scrape, valueOf } from './lib/prom-scrape';
import { resultsFile, writeResultsFile } from './lib/results-file';
import { loadAverage, quickMode, roundsFromEnv, spread } from './lib/rounds';

const DATABASE = 'certctl_bench_rss';
const APPS: AppName[] = ['api', 'orchestrator', 'notifier', 'scanner', 'responder'];
const MIB = 1024 * 1024;

interface RoundFigures {
  loadavg_start: number[];
  loadavg_end: number[];
  rss_mib: Record<string, number>;
  heap_used_mib: Record<string, number | null>;
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return round(Number(line.split(/\s+/)[1]) / 1024, 1);
}

async function oneRound(adminUrl: string, redisUrl: string, idleMs: number): Promise<RoundFigures> {
  const url = await freshDatabase(adminUrl, DATABASE);
  const deployRoot = mkdtempSync(join(tmpdir(), 'certctl-bench-rss-'));
  await seedDemoInventory(url, deployRoot);
  const env: Record<string, string> = {
    CERTCTL_DATABASE_URL: url,
    CERTCTL_REDIS_URL: redisUrl,
    CERTCTL_QUEUE_PREFIX: `certctl-bench-rss-${randomBytes(4).toString('hex')}`,
    CERTCTL_API_KEY: `bench-${randomBytes(24).toString('base64url')}`,
    CERTCTL_CONFIG_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    CERTCTL_AUDIT_HMAC_KEY: randomBytes(32).toString('base64url'),
    CERTCTL_LOG_LEVEL: 'info',
    CERTCTL_DEMO_SEED: 'false',
  };
  const apps: AppProcess[] = [];
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const loadStart = loadAverage();
  try {
    for (const name of APPS) apps.push(await AppProcess.start(name, env));
    await Promise.all(apps.map((app) => app.waitReady(120_000)));
    await sleep(idleMs);
    const rss: Record<string, number> = {};
    const heap: Record<string, number | null> = {};
    for (const app of apps) {
      rss[app.name] = rssMiB(app.pid!);
      const used = valueOf(await scrape(app.baseUrl).catch(() => []), 'nodejs_heap_size_used_bytes');
      heap[app.name] = used === null ? null : round(used / MIB, 1);
    }
    rss.node = rssMiB(bare.pid!);
    return { loadavg_start: loadStart, loadavg_end: loadAverage(), rss_mib: rss, heap_used_mib: heap };
  } finally {
    bare.kill();
    await Promise.all(apps.map((app) => app.stop()));
    rmSync(deployRoot, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const adminUrl = process.env.CERTCTL_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.CERTCTL_BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
  const quick = quickMode();
  const rounds = quick ? 1 : roundsFromEnv();
  const idleMs = Number(process.env.BENCH_IDLE_S ?? (quick ? 5 : 30)) * 1000;
  const records: RoundFigures[] = [];
  for (let i = 0; i < rounds; i++) {
    const figures = await oneRound(adminUrl, redisUrl, idleMs);
    records.push(figures);
    console.log(`round ${i + 1}/${rounds} (load ${figures.loadavg_start.join(' ')}): ${Object.entries(figures.rss_mib).map(([k, v]) => `${k} ${v}`).join(', ')} MiB`);
  }
  const names = [...APPS, 'node'];
  const rss = Object.fromEntries(names.map((name) => [name, spread(records.map((r) => r.rss_mib[name]))]));
  const heap = Object.fromEntries(APPS.map((name) => [name, spread(records.map((r) => r.heap_used_mib[name] ?? NaN).filter((v) => !Number.isNaN(v)))]));
  for (const name of names) {
    const s = rss[name];
    const h = heap[name];
    console.log(`${name.padEnd(13)} RSS ${s.median} MiB [${s.min}–${s.max}] n=${s.n}${h && h.n ? `, heap used ${h.median} MiB` : ''}`);
  }
  writeResultsFile(resultsFile('rss'), {
    bench: 'rss',
    date: new Date().toISOString(),
    node: process.version,
    idle_s: idleMs / 1000,
    rss_mib: rss,
    heap_used_mib: heap,
    rounds: records,
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
