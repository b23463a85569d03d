/**
 * Idle memory of every app: the README's "Operations → Memory" figures, taken the way `npm start` runs them.
 *
 *   npm run bench:rss            (BENCH_ROUNDS rounds, default 3; BENCH_IDLE_S checkpoints, default 30,120)
 *   BENCH_QUICK=1 npm run bench:rss
 *
 * Per round: a fresh database certctl_bench_rss with the real migrations and the demo inventory of `npm start`,
 * then the five built apps (api, orchestrator, notifier, scanner, responder) started together at the shipped log
 * level, each waited for on /ready; at each checkpoint (seconds after all were ready, no request in between) each
 * process's VmRSS (from /proc) is read, and each app's V8 heap in use from its /metrics. A bare `node` started
 * beside them is the floor. The figure per app and checkpoint is the median of the rounds [min–max].
 *
 * Two checkpoints because V8 keeps the young generation that booting grew (up to 2 x 16 MiB) committed until its
 * memory reducer runs, about 50 s into an idle process: 30 s is a fresh replica, 120 s a settled idle one.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
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

interface Checkpoint {
  after_s: number;
  rss_mib: Record<string, number>;
  heap_used_mib: Record<string, number | null>;
}

interface RoundFigures {
  loadavg_start: number[];
  loadavg_end: number[];
  checkpoints: Checkpoint[];
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return round(Number(line.split(/\s+/)[1]) / 1024, 1);
}

async function oneRound(adminUrl: string, redisUrl: string, checkpointsS: number[]): Promise<RoundFigures> {
  const url = await freshDatabase(adminUrl, DATABASE);
  const deployRoot = mkdtempSync(join(tmpdir(), 'certctl-bench-rss-'));
  await seedDemoInventory(url, deployRoot);
  const queuePrefix = `certctl-bench-rss-${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    CERTCTL_DATABASE_URL: url,
    CERTCTL_REDIS_URL: redisUrl,
    CERTCTL_QUEUE_PREFIX: queuePrefix,
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
    const ready = Date.now();
    const checkpoints: Checkpoint[] = [];
    for (const afterS of checkpointsS) {
      await sleep(Math.max(0, ready + afterS * 1000 - Date.now()));
      const rss: Record<string, number> = {};
      const heap: Record<string, number | null> = {};
      for (const app of apps) rss[app.name] = rssMiB(app.pid!);
      rss.node = rssMiB(bare.pid!);
      // Scraped after every RSS is read: a scrape allocates.
      for (const app of apps) {
        const used = valueOf(await scrape(app.baseUrl).catch(() => []), 'nodejs_heap_size_used_bytes');
        heap[app.name] = used === null ? null : round(used / MIB, 1);
      }
      checkpoints.push({ after_s: afterS, rss_mib: rss, heap_used_mib: heap });
    }
    return { loadavg_start: loadStart, loadavg_end: loadAverage(), checkpoints };
  } finally {
    bare.kill();
    await Promise.all(apps.map((app) => app.stop()));
    rmSync(deployRoot, { recursive: true, force: true });
    await deleteKeys(redisUrl, `${queuePrefix}:*`);
  }
}

/** The round's queues and sessions: each round has a prefix of its own, removed when it ends. */
async function deleteKeys(redisUrl: string, pattern: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const adminUrl = process.env.CERTCTL_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.CERTCTL_BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
  const quick = quickMode();
  const rounds = quick ? 1 : roundsFromEnv();
  const checkpointsS = (process.env.BENCH_IDLE_S ?? (quick ? '5' : '30,120')).split(',').map(Number);
  if (checkpointsS.some((s) => !Number.isFinite(s) || s < 0)) throw new Error(`BENCH_IDLE_S must be seconds, e.g. 30,120`);
  const records: RoundFigures[] = [];
  for (let i = 0; i < rounds; i++) {
    const figures = await oneRound(adminUrl, redisUrl, checkpointsS);
    records.push(figures);
    for (const c of figures.checkpoints) {
      console.log(`round ${i + 1}/${rounds} (load ${figures.loadavg_start.join(' ')}) at ${c.after_s} s: ${Object.entries(c.rss_mib).map(([k, v]) => `${k} ${v}`).join(', ')} MiB`);
    }
  }
  const names = [...APPS, 'node'];
  const summary = checkpointsS.map((afterS, k) => {
    const rss = Object.fromEntries(names.map((name) => [name, spread(records.map((r) => r.checkpoints[k]!.rss_mib[name]!))]));
    const heap = Object.fromEntries(APPS.map((name) => [name, spread(records.map((r) => r.checkpoints[k]!.heap_used_mib[name] ?? NaN))]));
    console.log(`--- idle ${afterS} s after ready`);
    for (const name of names) {
      const s = rss[name]!;
      const h = heap[name];
      console.log(`${name.padEnd(13)} RSS ${s.median} MiB [${s.min}–${s.max}] n=${s.n}${h && h.n ? `, heap used ${h.median} MiB` : ''}`);
    }
    return { after_s: afterS, rss_mib: rss, heap_used_mib: heap };
  });
  writeResultsFile(resultsFile('rss'), {
    bench: 'rss',
    date: new Date().toISOString(),
    node: process.version,
    checkpoints: summary,
    rounds: records,
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
