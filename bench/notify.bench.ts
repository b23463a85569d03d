/**
 * Notifier delivery benchmark: how many notifications per second the built notifier delivers to a local webhook
 * sink, with one and with two notifier processes, and how long a notification takes from its row's commit to
 * its delivery.
 *
 *   npm run bench:notify
 *   BENCH_NOTIFY_COUNT=20000 BENCH_NOTIFY_RATE=500 BENCH_NOTIFY_CONCURRENCY=64 npm run bench:notify
 *   BENCH_NOTIFY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:notify   (profile the notifiers)
 *
 * What it does:
 *  1. (Re)creates the database `certctl_bench_notify` on CERTCTL_BENCH_DATABASE_URL's server (default
 *     postgres://postgres@127.0.0.1:5432/postgres) with the real migrations; uses the Redis of
 *     CERTCTL_BENCH_REDIS_URL (default redis://127.0.0.1:6379) under a key prefix of its own, deleted at the end.
 *  2. Starts a webhook sink (node:http on 127.0.0.1) that answers 200 and notes when each idempotency key
 *     first arrived.
 *  3. For 1 and then 2 processes: starts the built notifier(s) (`node dist/apps/notifier/src/main.js`), warms up
 *     with 1,000 notifications, then
 *     - burst: commits BENCH_NOTIFY_COUNT (default 20,000) Webhook rows in batches of 1,000, each batch enqueued
 *       after its commit, as producers do; throughput = rows / (last delivery − first commit);
 *     - steady: BENCH_NOTIFY_RATE rows/s (default 500) in batches every 20 ms for 10 s; commit → delivery latency.
 *  4. Prints a table and writes bench/results/notify.json. A missed target does not fail the run; an error does.
 *
 * Everything (PostgreSQL, Redis, the sink, the notifiers, this producer) shares the machine's cores, so the
 * figures are a lower bound. It warns when the load average says the machine is busy.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { enqueueNotifications, newId } from '@certctl/db';
import { freshDatabase } from './lib/bench-dataset';
import { freePort } from '@certctl/testing';

const NOTIFIER_MAIN = resolve(__dirname, '..', 'apps', 'notifier', 'src', 'main.js');
const RESULTS_FILE = resolve(__dirname, '..', '..', 'bench', 'results', 'notify.json');
const DATABASE = 'certctl_bench_notify';
const BATCH = 1_000;
const TARGET_PER_SECOND_TWO_PROCESSES = 1_500;

const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  count: Number(process.env.BENCH_NOTIFY_COUNT ?? 20_000),
  rate: Number(process.env.BENCH_NOTIFY_RATE ?? 500),
  steadySeconds: Number(process.env.BENCH_NOTIFY_STEADY_S ?? 10),
  concurrency: Number(process.env.BENCH_NOTIFY_CONCURRENCY ?? 64),
  /** Extra node flags for the notifier processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  nodeArgs: (process.env.BENCH_NOTIFY_NODE_ARGS ?? '').split(' ').filter(Boolean),
};

interface Latency { p50: number; p95: number; p99: number; max: number }
interface ScenarioResult {
  processes: number;
  mode: 'burst' | 'steady';
  notifications: number;
  seconds: number;
  per_second: number;
  commit_to_delivery_ms: Latency;
}

/** Remembers when each notification was committed and first delivered. */
class Sink {
  readonly committedAt = new Map<string, number>();
  readonly deliveredAt = new Map<string, number>();
  requests = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createHttpServer((req, res) => {
      const key = String(req.headers['x-certctl-idempotency-key'] ?? '');
      req.resume();
      req.on('end', () => {
        this.requests++;
        if (!this.deliveredAt.has(key)) this.deliveredAt.set(key, performance.now());
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((done) => this.server!.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async waitFor(ids: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (ids.some((id) => !this.deliveredAt.has(id))) {
      if (Date.now() > deadline) {
        throw new Error(`${ids.filter((id) => !this.deliveredAt.has(id)).length} of ${ids.length} notifications not delivered after ${timeoutMs} ms`);
      }
      await sleep(20);
    }
  }

  latency(ids: string[]): Latency {
    const values = Float64Array.from(ids.map((id) => this.deliveredAt.get(id)! - this.committedAt.get(id)!)).sort();
    const at = (p: number) => round(values[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)]!, 1);
    return { p50: at(50), p95: at(95), p99: at(99), max: round(values[values.length - 1]!, 1) };
  }

  close(): Promise<void> {
    return new Promise((done) => { this.server?.closeAllConnections(); this.server?.close(() => done()); });
  }
}

/** Commits `count` pending Webhook rows in one statement, then enqueues them (ids only), like a producer. */
async function produce(db: Client, queue: Queue, sink: Sink, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId('notification'));
  await db.query(
    `INSERT INTO notification_events (id, type, channel, recipient, message, status, details)
     SELECT id, 'ExpirationWarning', 'Webhook', '', 'benchmark notification', 'pending', '{"severity":"warning"}'::jsonb
       FROM unnest($1::text[]) AS id`,
    [ids],
  );
  const committed = performance.now();
  for (const id of ids) sink.committedAt.set(id, committed);
  await enqueueNotifications({ queue: () => queue }, ids);
  return ids;
}

async function startNotifier(env: Record<string, string>): Promise<ChildProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...settings.nodeArgs, NOTIFIER_MAIN], {
    env: { ...process.env, ...env, CERTCTL_NOTIFIER_PORT: String(port), CERTCTL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-4_000)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`notifier exited (${child.exitCode}):\n${stderr}`);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false);
    if (ready) return child;
    if (Date.now() > deadline) throw new Error(`notifier not ready after 60 s:\n${stderr}`);
    await sleep(200);
  }
}

async function stopNotifier(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
}

async function runWith(processes: number, db: Client, redisUrl: string, sink: Sink, baseEnv: Record<string, string>): Promise<ScenarioResult[]> {
  const prefix = `certctl-bench-notify-${randomBytes(4).toString('hex')}`;
  const env = { ...baseEnv, CERTCTL_QUEUE_PREFIX: prefix };
  const queue = new Queue('notify', { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < processes; i++) children.push(await startNotifier(env));
    await sink.waitFor(await produce(db, queue, sink, 1_000), 60_000); // warm-up

    // Burst: as fast as producers can commit.
    const burstIds: string[] = [];
    const started = performance.now();
    for (let done = 0; done < settings.count; done += BATCH) burstIds.push(...(await produce(db, queue, sink, Math.min(BATCH, settings.count - done))));
    await sink.waitFor(burstIds, 300_000);
    const lastDelivery = Math.max(...burstIds.map((id) => sink.deliveredAt.get(id)!));
    const burstSeconds = (lastDelivery - started) / 1000;
    const burst: ScenarioResult = {
      processes, mode: 'burst', notifications: burstIds.length, seconds: round(burstSeconds, 2),
      per_second: Math.round(burstIds.length / burstSeconds), commit_to_delivery_ms: sink.latency(burstIds),
    };

    // Steady: a fixed rate below capacity, for the latency a single alert sees.
    const steadyIds: string[] = [];
    const perTick = Math.max(1, Math.round(settings.rate / 50));
    const steadyStart = performance.now();
    for (let tick = 0; performance.now() - steadyStart < settings.steadySeconds * 1000; tick++) {
      steadyIds.push(...(await produce(db, queue, sink, perTick)));
      const next = steadyStart + (tick + 1) * 20;
      if (next > performance.now()) await sleep(next - performance.now());
    }
    await sink.waitFor(steadyIds, 120_000);
    const steadySeconds = (performance.now() - steadyStart) / 1000;
    const steady: ScenarioResult = {
      processes, mode: 'steady', notifications: steadyIds.length, seconds: round(steadySeconds, 2),
      per_second: Math.round(steadyIds.length / settings.steadySeconds), commit_to_delivery_ms: sink.latency(steadyIds),
    };
    return [burst, steady];
  } finally {
    await Promise.all(children.map(stopNotifier));
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    const redis = new Redis(redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

async function main(): Promise<void> {
  const [load1] = loadavg();
  if (load1! > 0.5 * cpus().length) {
    process.stderr.write(`warning: load average ${load1!.toFixed(2)} on ${cpus().length} cores: other work will lower these figures\n`);
  }
  const url = await freshDatabase(settings.adminUrl, DATABASE);

  const sink = new Sink();
  await sink.start();
  const db = new Client({ connectionString: url, application_name: 'certctl-bench-notify' });
  await db.connect();
  const baseEnv = {
    CERTCTL_DATABASE_URL: url,
    CERTCTL_REDIS_URL: settings.redisUrl,
    CERTCTL_WEBHOOK_URL: sink.url,
    CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true',
    CERTCTL_NOTIFICATION_CONCURRENCY: String(settings.concurrency),
  };
  const results: ScenarioResult[] = [];
  try {
    for (const processes of [1, 2]) {
      process.stderr.write(`running with ${processes} notifier process(es)…\n`);
      results.push(...(await runWith(processes, db, settings.redisUrl, sink, baseEnv)));
      await db.query('TRUNCATE notification_events');
    }
  } finally {
    await db.end();
    await sink.close();
  }

  const twoBurst = results.find((r) => r.processes === 2 && r.mode === 'burst')!;
  const report = {
    benchmark: 'notify',
    measured_at: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, memory_gib: round(totalmem() / 2 ** 30, 1), kernel: release(), node: process.version, load_average_at_start: round(load1!, 2) },
    settings: { burst_notifications: settings.count, steady_rate_per_second: settings.rate, steady_seconds: settings.steadySeconds, concurrency_per_process: settings.concurrency, channel: 'Webhook (local HTTP sink, keep-alive)' },
    results,
    targets: [{ name: `≥ ${TARGET_PER_SECOND_TWO_PROCESSES}/s with two processes (burst)`, actual: twoBurst.per_second, pass: twoBurst.per_second >= TARGET_PER_SECOND_TWO_PROCESSES }],
    sink_requests: sink.requests,
  };
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  const lines = results.map((r) =>
    `${String(r.processes).padStart(9)}  ${r.mode.padEnd(6)}  ${String(r.notifications).padStart(6)}  ${String(r.per_second).padStart(7)}/s  ` +
    `p50 ${r.commit_to_delivery_ms.p50} ms  p95 ${r.commit_to_delivery_ms.p95} ms  p99 ${r.commit_to_delivery_ms.p99} ms`);
  process.stdout.write(`processes  mode    count   delivered   commit → delivery\n${lines.join('\n')}\n` +
    `target: ${report.targets[0]!.name}: ${report.targets[0]!.pass ? 'pass' : 'MISSED'} (${twoBurst.per_second}/s)\nwritten: ${RESULTS_FILE}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:notify failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
