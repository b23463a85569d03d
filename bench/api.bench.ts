/**
 * API read-path benchmark: how fast the api serves the certificate inventory's hot reads at 100,000 certificates.
 *
 *   npm run bench:api                        build, seed, run every scenario, write bench/results/api.json
 *   BENCH_REUSE=1 npm run bench:api          keep an already seeded certctl_bench database (skips the seeding)
 *   BENCH_DURATION_S=30 BENCH_CONNECTIONS=20 npm run bench:api
 *
 * What it does:
 *  1. (Re)creates the database `certctl_bench` on the server of CERTCTL_BENCH_DATABASE_URL
 *     (default postgres://postgres@127.0.0.1:5432/postgres), applies the real migrations and seeds 20 teams,
 *     500 owners, 3 issuers and 100,000 certificates with one version each, then VACUUM ANALYZE.
 *     The database is left in place afterwards, for EXPLAIN ANALYZE or a later BENCH_REUSE=1 run.
 *  2. Starts the built api (`node dist/apps/api/src/main.js`) on a free port against that database and the Redis of
 *     CERTCTL_BENCH_REDIS_URL (default redis://127.0.0.1:6379), waits for GET /ready, and stops it at the end,
 *     on error and on Ctrl-C.
 *  3. Per scenario: checks one response, warms up (BENCH_WARMUP_S, default 3), then runs BENCH_CONNECTIONS
 *     (default 16) keep-alive connections, closed loop, for BENCH_DURATION_S (default 10) seconds. Every request's
 *     latency is recorded, so p50/p95/p99 are exact order statistics of the measured run.
 *  4. The cost of request logging: two fresh apis, at info (one line per request) and at warn, take the first page
 *     in turns (three rounds); the share of the api's CPU per request that logging costs, from the medians.
 *  5. Prints a table and writes bench/results/api.json with machine, dataset, results and the targets' pass/fail.
 *     Each scenario also records where the CPU went (Linux /proc): the whole machine, the api process (and its CPU
 *     time per request) and the load generator; the rest is PostgreSQL plus anything else running.
 *
 * The load generator runs on the same machine as the api and PostgreSQL and takes some of its CPU: the figures
 * are a lower bound of what the api does on dedicated hardware. Run it on an otherwise idle machine: it measures
 * one second of CPU use first and warns when something else is busy. A missed target does not fail the process;
 * an error (setup, sanity check, api crash) does, with exit code 1.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { pino } from 'pino';
import { createPino, httpLoggerMiddleware } from '@certctl/observability';
import { ApiProcess } from './lib/api-process';
import { DATASET, DatasetInfo, prepareDataset, withDatabase } from './lib/bench-dataset';
import { cpuBetween, cpuSnapshot, CpuUse } from './lib/cpu';
import { httpGet, LoadResult, round, runLoad } from './lib/http-load';
import { freePort } from '@certctl/testing';

const RESULTS_FILE = resolve(__dirname, '..', '..', 'bench', 'results', 'api.json');
const DATABASE = 'certctl_bench';
const DAY_MS = 24 * 60 * 60 * 1000;

interface BenchConfig {
  adminUrl: string;
  redisUrl: string;
  durationS: number;
  warmupS: number;
  connections: number;
  reuse: boolean;
}

interface Scenario {
  name: string;
  path: string;
  /** Returns what is wrong with a sample response body, or undefined when it looks right. */
  check: (body: Record<string, unknown>) => string | undefined;
}

interface Target {
  scenario: string;
  metric: 'latency_p95_ms' | 'req_per_s';
  /** p95 must be below it; req/s must be at least it. */
  threshold: number;
}

interface ScenarioResult extends LoadResult {
  name: string;
  path: string;
  /** `total` of the sample list response (rows matching the filter), when a list. */
  matched?: number;
  cpu: CpuUse;
}

/** Each api scenario against the bare node:http + PostgreSQL-JSON peer measured in the same run (its limit). */
const RATIO_TARGETS: Array<{ scenario: string; peer: string; min: number }> = [
  { scenario: 'list_first_page', peer: 'peer_list_first_page', min: 0.8 },
  { scenario: 'filter_status_expiring_30d', peer: 'peer_filter_status_expiring_30d', min: 0.6 },
  { scenario: 'search_free_text', peer: 'peer_search_free_text', min: 0.6 },
  // Keyset pages: as fast as the first page, however deep.
  { scenario: 'list_cursor_deep', peer: 'list_first_page', min: 0.9 },
];

/** Request logging at info may cost at most this share of the api's CPU per request (issue 15). */
const LOGGING_MAX_SHARE = 0.1;

const LOGGING_ROUNDS = 3;
const LOGGER_ISOLATED_REQUESTS = 200_000;

/**
 * The request logger's own CPU per request, in isolation: the middleware on a synthetic request and response,
 * its JSON line written (asynchronously, as deployed) to /dev/null. Free of the machine's noise, which at a
 * few percent of a request swamps the A/B comparison above.
 */
async function loggerCpuMsPerRequest(): Promise<number> {
  const destination = pino.destination({ dest: '/dev/null', sync: false });
  const middleware = httpLoggerMiddleware(createPino({ level: 'info', format: 'json', name: 'api', destination: destination as unknown as NodeJS.WritableStream }));
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const res = Object.assign(new EventEmitter(), { statusCode: 200, writableFinished: true, setHeader: () => undefined });
      const req = { method: 'GET', url: '/api/v1/certificates?per_page=50', headers: { 'x-request-id': `bench-${i}` } };
      middleware(req as never, res as never, () => undefined);
      res.emit('finish');
    }
  };
  run(20_000); // JIT warm-up
  const before = process.cpuUsage();
  run(LOGGER_ISOLATED_REQUESTS);
  await new Promise<void>((done) => destination.flush(() => done()));
  const used = process.cpuUsage(before);
  destination.end();
  return round((used.user + used.system) / 1000 / LOGGER_ISOLATED_REQUESTS, 4);
}

interface LoggingCost {
  rounds: Array<{ quiet_cpu_ms_per_request: number | null; logging_cpu_ms_per_request: number | null; quiet_req_per_s: number; logging_req_per_s: number }>;
  quiet_cpu_ms_per_request: number;
  logging_cpu_ms_per_request: number;
  /** 1 - quiet/logging of the medians: within this machine's noise (see the rounds). */
  ab_share: number;
  /** The logger's own CPU per request in isolation, and its share of the quiet api's CPU per request. */
  logger_cpu_ms_per_request: number;
  share: number;
  max: number;
  pass: boolean;
}

async function measureLoggingCost(apiEnv: Record<string, string>, headers: Record<string, string>, scenario: Scenario, config: BenchConfig): Promise<LoggingCost> {
  const [quiet, logging] = await Promise.all([ApiProcess.start(apiEnv), ApiProcess.start({ ...apiEnv, CERTCTL_LOG_LEVEL: 'info' })]);
  try {
    await Promise.all([quiet.waitReady(), logging.waitReady()]);
    const turn = { ...config, warmupS: 1, durationS: 5 };
    for (const api of [quiet, logging]) await runScenario(api, headers, scenario, { ...config, durationS: 1 }); // JIT warm-up
    const rounds: LoggingCost['rounds'] = [];
    for (let i = 0; i < LOGGING_ROUNDS && !stopLoad.signal.aborted; i++) {
      const q = await runScenario(quiet, headers, { ...scenario, name: `logging_round${i + 1}_warn` }, turn);
      const l = await runScenario(logging, headers, { ...scenario, name: `logging_round${i + 1}_info` }, turn);
      rounds.push({ quiet_cpu_ms_per_request: q.cpu.api_cpu_ms_per_request, logging_cpu_ms_per_request: l.cpu.api_cpu_ms_per_request, quiet_req_per_s: q.reqPerS, logging_req_per_s: l.reqPerS });
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    const quietMs = median(rounds.map((r) => r.quiet_cpu_ms_per_request ?? 0));
    const loggingMs = median(rounds.map((r) => r.logging_cpu_ms_per_request ?? 0));
    const abShare = loggingMs > 0 ? round(Math.max(0, (loggingMs - quietMs) / loggingMs), 3) : 0;
    const loggerMs = await loggerCpuMsPerRequest();
    const share = quietMs > 0 ? round(loggerMs / (quietMs + loggerMs), 4) : 0;
    return {
      rounds, quiet_cpu_ms_per_request: quietMs, logging_cpu_ms_per_request: loggingMs, ab_share: abShare, logger_cpu_ms_per_request: loggerMs,
      share, max: LOGGING_MAX_SHARE, pass: quietMs > 0 && share <= LOGGING_MAX_SHARE,
    };
  } finally {
    await Promise.all([quiet.stop(), logging.stop()]);
  }
}

const TARGETS: Target[] = [
  { scenario: 'list_first_page', metric: 'latency_p95_ms', threshold: 25 },
  { scenario: 'list_deep_page', metric: 'latency_p95_ms', threshold: 25 },
  { scenario: 'filter_status_expiring_30d', metric: 'latency_p95_ms', threshold: 50 },
  { scenario: 'stats_summary', metric: 'latency_p95_ms', threshold: 50 },
  { scenario: 'list_first_page', metric: 'req_per_s', threshold: 1500 },
];

function readConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  return {
    adminUrl: env.CERTCTL_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: env.CERTCTL_BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
    durationS: positiveNumber(env, 'BENCH_DURATION_S', 10),
    warmupS: positiveNumber(env, 'BENCH_WARMUP_S', 3),
    connections: Math.round(positiveNumber(env, 'BENCH_CONNECTIONS', 16)),
    reuse: env.BENCH_REUSE === '1',
  };
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function scenarios(now: Date, deepCursor: string): Scenario[] {
  const in30Days = encodeURIComponent(new Date(now.getTime() + 30 * DAY_MS).toISOString());
  return [
    // Row 50,001 onwards by keyset (cursor mode), the same depth as page=1000 of 50.
    { name: 'list_cursor_deep', path: `/api/v1/certificates?per_page=50&cursor=${deepCursor}`, check: checkList },
    { name: 'list_first_page', path: '/api/v1/certificates?per_page=50', check: checkList },
    { name: 'list_deep_page', path: '/api/v1/certificates?per_page=50&page=1000', check: checkList },
    {
      name: 'filter_status_expiring_30d',
      path: `/api/v1/certificates?status=Active&expires_before=${in30Days}&per_page=50`,
      check: checkList,
    },
    // Matches svc-4242 and svc-42420…svc-42429: a handful of rows, like an operator looking one service up.
    { name: 'search_free_text', path: '/api/v1/certificates?search=svc-4242&per_page=50', check: checkList },
    { name: 'stats_summary', path: '/api/v1/stats/summary', check: checkSummary },
  ];
}

function checkList(body: Record<string, unknown>): string | undefined {
  if (!Array.isArray(body.data)) return 'no data array';
  if (typeof body.total !== 'number' || body.total <= 0) return `total is ${String(body.total)}, expected > 0`;
  if (body.data.length === 0) return 'empty page';
  return undefined;
}

function checkSummary(body: Record<string, unknown>): string | undefined {
  const total = body.total_certificates;
  if (typeof total !== 'number') return 'no total_certificates';
  if (total < DATASET.certificates * 0.99 || total > DATASET.certificates) {
    return `total_certificates is ${total}, expected about ${DATASET.certificates}`;
  }
  return undefined;
}

/** One request, checked; throws with the scenario's name and the reason. Returns the list's `total`, if any. */
async function sanityCheck(api: LoadTarget, headers: Record<string, string>, scenario: Scenario): Promise<number | undefined> {
  const res = await httpGet(api.baseUrl, scenario.path, headers);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(res.body) as Record<string, unknown>;
  } catch {
    // reported below with the status
  }
  const problem = res.status !== 200 ? `HTTP ${res.status}` : scenario.check(body);
  if (problem) {
    throw new Error(`sanity check of ${scenario.name} failed: ${problem}\n  GET ${scenario.path}\n  ${res.body.slice(0, 500)}`);
  }
  return typeof body.total === 'number' ? body.total : undefined;
}

interface LoadTarget { baseUrl: string; pid: number | undefined }

async function runScenario(
  api: LoadTarget,
  headers: Record<string, string>,
  scenario: Scenario,
  config: BenchConfig,
): Promise<ScenarioResult> {
  const matched = await sanityCheck(api, headers, scenario);
  const load = { baseUrl: api.baseUrl, path: scenario.path, headers, connections: config.connections, signal: stopLoad.signal };
  progress(`${scenario.name}: warm-up ${config.warmupS} s, then ${config.durationS} s × ${config.connections} connections`);
  await runLoad({ ...load, durationMs: config.warmupS * 1000 });
  const before = cpuSnapshot(api.pid);
  const { firstError, ...result } = await runLoad({ ...load, durationMs: config.durationS * 1000 });
  const cpu = cpuBetween(before, cpuSnapshot(api.pid), result.requests, cpus().length);
  if (firstError && !stopLoad.signal.aborted) progress(`  ${result.errors} errors, ${result.non2xx} non-2xx; first: ${firstError}`);
  return { name: scenario.name, path: scenario.path, ...(matched !== undefined ? { matched } : {}), ...result, cpu };
}

function evaluate(results: ScenarioResult[]): Array<Target & { actual: number | null; pass: boolean; note?: string }> {
  return TARGETS.map((target) => {
    const result = results.find((r) => r.name === target.scenario);
    if (!result) return { ...target, actual: null, pass: false, note: 'scenario did not run' };
    const actual = target.metric === 'req_per_s' ? result.reqPerS : result.latencyMs.p95;
    const met = target.metric === 'req_per_s' ? actual >= target.threshold : actual < target.threshold;
    const clean = result.errors === 0 && result.non2xx === 0;
    return { ...target, actual, pass: met && clean, ...(clean ? {} : { note: 'errors or non-2xx responses' }) };
  });
}

async function machineInfo(databaseUrl: string, busyAtStart: number | null): Promise<Record<string, unknown>> {
  const cpu = cpus();
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  const postgres = await db.query<{ server_version: string }>('SHOW server_version').finally(() => db.end());
  return {
    cpus: cpu.length,
    cpu_model: cpu[0]?.model ?? 'unknown',
    total_memory_bytes: totalmem(),
    total_memory_gib: round(totalmem() / 1024 ** 3, 1),
    os: `${osType()} ${release()}`,
    busy_pct_before_start: busyAtStart,
    node: process.version,
    postgres: postgres.rows[0]?.server_version ?? 'unknown',
  };
}

/** CPU the machine spends over one second, before the benchmark adds any (null off Linux). */
async function machineBusyPct(): Promise<number | null> {
  const before = cpuSnapshot(undefined);
  await sleep(1000);
  return cpuBetween(before, cpuSnapshot(undefined), 0, cpus().length).machine_busy_pct;
}

function formatTable(results: ScenarioResult[]): string {
  const header = ['scenario', 'matched', 'requests', 'errors', 'non2xx', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms',
    'api cpu ms/req', 'cpu% machine/api/loader'];
  const rows = results.map((r) => [
    r.name, String(r.matched ?? '-'), String(r.requests), String(r.errors), String(r.non2xx), r.reqPerS.toFixed(1),
    r.latencyMs.p50.toFixed(2), r.latencyMs.p95.toFixed(2), r.latencyMs.p99.toFixed(2), r.latencyMs.max.toFixed(2),
    String(r.cpu.api_cpu_ms_per_request ?? '-'), `${r.cpu.machine_busy_pct ?? '-'}/${r.cpu.api_pct ?? '-'}/${r.cpu.loader_pct}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatTargets(targets: ReturnType<typeof evaluate>): string {
  return targets
    .map((t) => {
      const rule = t.metric === 'req_per_s' ? `req/s >= ${t.threshold}` : `p95 < ${t.threshold} ms`;
      return `  ${t.pass ? 'PASS' : 'FAIL'}  ${t.scenario} ${rule}  (actual ${t.actual ?? 'n/a'})${t.note ? ` ${t.note}` : ''}`;
    })
    .join('\n');
}

function writeResults(report: Record<string, unknown>): void {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
}

function progress(message: string): void {
  process.stdout.write(`[bench] ${message}\n`);
}

let api: ApiProcess | undefined;
let peer: ChildProcess | undefined;

/** The reference server (bench/lib/pg-json-peer.ts) as a child process on a free port. */
async function startPeer(databaseUrl: string): Promise<LoadTarget> {
  const port = await freePort();
  peer = spawn(process.execPath, [resolve(__dirname, 'lib', 'pg-json-peer.js')], {
    env: { ...process.env, PEER_DATABASE_URL: databaseUrl, PEER_PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await httpGet(baseUrl, '/ready', {}).then((r) => r.status === 200, () => false);
    if (ok) return { baseUrl, pid: peer.pid };
    await sleep(100);
  }
  throw new Error('the PostgreSQL-JSON peer did not start');
}

/** certctl's cursor of the row at `offset` in created_at order (what next_cursor would be after it). */
async function cursorAt(databaseUrl: string, offset: number): Promise<string> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ at: string; id: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, id FROM managed_certificates ORDER BY created_at, id OFFSET $1 LIMIT 1`,
      [offset - 1],
    );
    return Buffer.from(`${rows[0]!.at}:${rows[0]!.id}`).toString('base64url');
  } finally {
    await db.end();
  }
}
/** Aborted on shutdown, so the api's graceful stop is not kept waiting by busy keep-alive connections. */
const stopLoad = new AbortController();

async function main(): Promise<void> {
  const config = readConfig();
  const busyAtStart = await machineBusyPct();
  if (busyAtStart !== null && busyAtStart > 25) {
    progress(`warning: the machine is already ${busyAtStart}% busy (100 = one core); other work will skew the figures`);
  }
  progress(`preparing database ${DATABASE}${config.reuse ? ' (BENCH_REUSE=1)' : ''}…`);
  const dataset: DatasetInfo = await prepareDataset(config.adminUrl, DATABASE, config.reuse);
  progress(dataset.reused ? 'reusing the seeded database' : `seeded in ${dataset.seed_seconds} s`);
  const databaseUrl = withDatabase(config.adminUrl, DATABASE);

  const apiKey = `bench-${randomBytes(24).toString('base64url')}`;
  const apiEnv = {
    CERTCTL_DATABASE_URL: databaseUrl,
    CERTCTL_REDIS_URL: config.redisUrl,
    CERTCTL_QUEUE_PREFIX: 'certctl-bench',
    CERTCTL_API_KEY: apiKey,
    CERTCTL_LOG_LEVEL: 'warn',
    CERTCTL_DATABASE_MAX_CONNS: '20',
  };
  api = await ApiProcess.start(apiEnv);
  await api.waitReady();
  progress(`api ready at ${api.baseUrl} (pid ${api.pid})`);

  const headers = { authorization: `Bearer ${apiKey}`, accept: 'application/json' };
  const startedAt = new Date();
  const results: ScenarioResult[] = [];
  const all = scenarios(startedAt, await cursorAt(databaseUrl, 50_000));
  for (const scenario of all) {
    if (stopLoad.signal.aborted) return;
    results.push(await runScenario(api, headers, scenario, config));
  }
  await api.stop();

  // The cost of request logging: the first page from two fresh apis, one logging a line per request (info, as
  // deployed) and one quiet (warn), measured in turns so that drift on this shared machine hits both alike; the
  // share is 1 - quiet/logging of the medians of the api's own CPU per request.
  const logging = await measureLoggingCost(apiEnv, headers, all.find((x) => x.name === 'list_first_page')!, config);

  // The same lists from the bare peer, one at a time on the same machine: the api's ceiling here.
  const peerTarget = await startPeer(databaseUrl);
  progress(`PostgreSQL-JSON peer ready at ${peerTarget.baseUrl}`);
  for (const name of ['list_first_page', 'filter_status_expiring_30d', 'search_free_text']) {
    const scenario = all.find((x) => x.name === name)!;
    results.push(await runScenario(peerTarget, headers, { ...scenario, name: `peer_${name}` }, config));
  }
  peer?.kill('SIGTERM');

  const ratios = RATIO_TARGETS.map((t) => {
    const a = results.find((r) => r.name === t.scenario)?.reqPerS ?? 0;
    const b = results.find((r) => r.name === t.peer)?.reqPerS ?? 0;
    const ratio = b ? round(a / b, 3) : 0;
    return { scenario: t.scenario, versus: t.peer, ratio, min: t.min, pass: ratio >= t.min };
  });
  const targets = evaluate(results);
  writeResults({
    timestamp: startedAt.toISOString(),
    machine: await machineInfo(databaseUrl, busyAtStart),
    settings: { duration_s: config.durationS, warmup_s: config.warmupS, connections: config.connections, api_database_max_conns: 20 },
    dataset,
    scenarios: results,
    targets,
    ratios,
    request_logging: logging,
    all_targets_met: targets.every((t) => t.pass) && ratios.every((r) => r.pass) && logging.pass,
  });
  const ratioText = ratios.map((r) => `  ${r.pass ? 'PASS' : 'FAIL'}  ${r.scenario} / ${r.versus} = ${r.ratio} (>= ${r.min})`).join('\n');
  const loggingText = `  ${logging.pass ? 'PASS' : 'FAIL'}  request logging = ${round(logging.share * 100, 2)}% of the api's CPU per request (<= ${LOGGING_MAX_SHARE * 100}%): ` +
    `the logger ${logging.logger_cpu_ms_per_request} ms in isolation; A/B in turns ${logging.logging_cpu_ms_per_request} vs ${logging.quiet_cpu_ms_per_request} ms (${round(logging.ab_share * 100, 1)}%, within the machine's noise)`;
  process.stdout.write(`\n${formatTable(results)}\n\ntargets:\n${formatTargets(targets)}\n${ratioText}\n${loggingText}\n\nwritten: ${RESULTS_FILE}\n`);
}

let exiting: Promise<never> | undefined;

/** Stops the load and the api, then exits; the first caller's exit code wins. */
function shutdown(code: number): Promise<never> {
  exiting ??= (async () => {
    stopLoad.abort();
    await api?.stop().catch(() => undefined);
    process.exit(code);
  })();
  return exiting;
}

process.once('SIGINT', () => {
  progress('interrupted, stopping the api…');
  void shutdown(130);
});
process.once('SIGTERM', () => void shutdown(143));
process.once('exit', () => {
  api?.killNow();
  peer?.kill('SIGKILL');
});

main().then(
  () => shutdown(0),
  (err: unknown) => {
    if (stopLoad.signal.aborted) return;
    process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (api) process.stderr.write(`[bench] last api output:\n${api.output() || '(none)'}\n`);
    void shutdown(1);
  },
);
