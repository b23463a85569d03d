/**
 * API read-path benchmark: how fast the api serves the certificate inventory's hot reads at 100,000 certificates,
 * interleaved with two peers no framework stands in for.
 *
 *   npm run bench:api                        build, seed, run every scenario, write bench/results/api.json
 *   BENCH_QUICK=1 npm run bench:api          10,000 certificates, 2 s runs: proves the bench works (figures are not results;
 *                                            written to the temp dir, never over bench/results)
 *   BENCH_REUSE=1 npm run bench:api          keep an already seeded certctl_bench database (skips the seeding)
 *   BENCH_DURATION_S=30 BENCH_CONNECTIONS=20 BENCH_ROUNDS=5 npm run bench:api
 *   BENCH_SCENARIOS=list_first_page npm run bench:api   only the named scenarios (comma-separated), no logging-cost
 *                                            step; written to bench/results/api-partial.json, never over api.json
 *   BENCH_SCENARIOS=list_first_page_team_scoped npm run bench:api   only the cost of authorization (step 5b),
 *                                            written to bench/results/api-team-scoped.json
 *   BENCH_DATABASE=certctl_bench_x           seed and use another database name (two worktrees side by side)
 *
 * What it does:
 *  1. (Re)creates the database `certctl_bench` on the server of CERTCTL_BENCH_DATABASE_URL
 *     (default postgres://postgres@127.0.0.1:5432/postgres), applies the real migrations and seeds 20 teams,
 *     500 owners, 3 issuers and 100,000 certificates with one version each, then VACUUM ANALYZE.
 *     The database is left in place afterwards, for EXPLAIN ANALYZE or a later BENCH_REUSE=1 run.
 *  2. Starts the built api (`node dist/apps/api/src/main.js`, logging at info as shipped, a pool of 20) and two
 *     peers on the same database, each with a pool of 20: bench/lib/pg-json-peer (node:http, PostgreSQL builds
 *     the JSON) and bench/lib/pg-prepared-peer (node:http + pg, a prepared statement per filter shape, json_agg:
 *     the bare limit). The load comes from a separate process (bench/lib/load-worker.ts) over BENCH_CONNECTIONS
 *     (16) keep-alive connections, the same client for all three.
 *  3. Per scenario: one warm-up run (BENCH_WARMUP_S, 3) per contender, then BENCH_ROUNDS (3) interleaved rounds
 *     (ours and the peers A B C, order rotated each round) of BENCH_DURATION_S (10) seconds each. Rates by the
 *     generator's clock (first request → last answer), with its own CPU and event-loop delay beside them; per
 *     contender median [min–max] n; ratios per round and their median; load average at each round's start and end.
 *  4. Answers checked: a sample of every run's pages must hold exactly the ids, in order, and the total that the
 *     database gives for the same query (computed here with plain SQL).
 *  5. The cost of request logging (full mode only): two fresh apis, at info and at warn, in turns.
 *  5b. The cost of authorization (issue 23): the first page as an operator whose cert.read grant is scoped to one
 *     of the 20 teams (5,000 rows, a role granted within the team through the API) against the admin key,
 *     interleaved on one api, pages checked; goal >= 0.9 of the admin rate,
 *     with EXPLAIN ANALYZE of the scoped page query in the results.
 *  6. Prints the figures and writes bench/results/api.json with every round.
 *
 * The load generator, the api, the peers and PostgreSQL share the machine; each scenario records where the CPU
 * went (Linux /proc). A missed target does not fail the process; an error (setup, a wrong page, a crash) does.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { pino } from 'pino';
import { createPino, httpLoggerMiddleware } from '@certctl/observability';
import { ApiProcess } from './lib/api-process';
import { DatasetInfo, prepareDataset, withDatabase } from './lib/bench-dataset';
import { cpuBetween, cpuSnapshot, CpuUse } from './lib/cpu';
import { checkAnswer, Expected } from './lib/page-check';
import { httpGet, round } from './lib/http-load';
import { LoadGenerator, LoadRunResult, withoutSamples } from './lib/load-generator';
import { resultsFile, writeResultsFile } from './lib/results-file';
import { formatRatio, formatSpread, interleave, loadAverage, quickMode, RatioSummary, ratioOf, RoundRecord, roundsFromEnv, spread, Spread, spreadOf } from './lib/rounds';
import { freePort } from '@certctl/testing';

/** BENCH_SCENARIOS: a comma-separated subset of the scenarios (a profile, a before/after of one path). */
const ONLY_SCENARIOS = (process.env.BENCH_SCENARIOS ?? '').split(',').map((name) => name.trim()).filter(Boolean);
/** BENCH_DATABASE: another name, so two worktrees' runs do not drop each other's database. */
const DATABASE = process.env.BENCH_DATABASE || 'certctl_bench';
/** The cost of authorization (issue 23): the first page as a team-scoped operator against the admin key. */
const TEAM_SCOPED = 'list_first_page_team_scoped';
/** A run of the scoped scenario alone keeps its own file, beside the other partial runs'. */
const RESULTS_FILE = resultsFile(
  ONLY_SCENARIOS.length === 1 && ONLY_SCENARIOS[0] === TEAM_SCOPED ? 'api-team-scoped' : ONLY_SCENARIOS.length ? 'api-partial' : 'api');
const SCOPED_TEAM = 'team-bench-01';
const SCOPED_MIN_RATIO = 0.9;
const DAY_MS = 24 * 60 * 60 * 1000;
const POOL = 20;

interface BenchConfig {
  adminUrl: string;
  redisUrl: string;
  quick: boolean;
  certificates: number;
  durationS: number;
  warmupS: number;
  connections: number;
  rounds: number;
  reuse: boolean;
}


interface Scenario {
  name: string;
  path: string;
  /** The same page asked of PostgreSQL directly (a list), or the summary's total. */
  expected: (db: Client) => Promise<Expected>;
  kind: 'list' | 'summary';
  /** Also served by the peers (they implement the list and its filters only). */
  peers: boolean;
}

interface Target {
  scenario: string;
  metric: 'latency_p95_ms' | 'req_per_s';
  /** p95 must be below it; req/s must be at least it. */
  threshold: number;
}

/** One measured run of one contender. */
interface RunFigures extends Omit<LoadRunResult, 'samples'> {
  samples_checked: number;
  cpu: CpuUse;
}

interface ScenarioSummary {
  name: string;
  path: string;
  expected_total: number;
  req_per_s: Record<string, Spread>;
  latency_p95_ms: Record<string, Spread>;
  generator_cpu_pct: Record<string, Spread>;
  ratios: RatioSummary[];
  rounds: Array<RoundRecord<RunFigures>>;
}

const OURS = 'certctl_api';
const PEER_JSON = 'pg_json_peer';
const PEER_BARE = 'bare_json_agg_prepared';

/** Ours against the project's PostgreSQL-JSON peer, per round; the ratio to the bare json_agg peer is reported beside. */
const RATIO_TARGETS: Array<{ scenario: string; min: number }> = [
  { scenario: 'list_first_page', min: 0.8 },
  { scenario: 'filter_status_expiring_30d', min: 0.6 },
  { scenario: 'search_free_text', min: 0.6 },
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

async function measureLoggingCost(
  apiEnv: Record<string, string>, headers: Record<string, string>, scenario: Scenario, config: BenchConfig, load: LoadGenerator, expected: Expected,
): Promise<LoggingCost> {
  const [quiet, logging] = await Promise.all([ApiProcess.start({ ...apiEnv, CERTCTL_LOG_LEVEL: 'warn' }), ApiProcess.start({ ...apiEnv, CERTCTL_LOG_LEVEL: 'info' })]);
  try {
    await Promise.all([quiet.waitReady(), logging.waitReady()]);
    const turn = { ...config, warmupS: 1, durationS: 5 };
    for (const api of [quiet, logging]) await runScenario(load, api, headers, scenario, 1, config, expected); // JIT warm-up
    const rounds: LoggingCost['rounds'] = [];
    for (let i = 0; i < LOGGING_ROUNDS && !stopLoad.signal.aborted; i++) {
      const q = await runScenario(load, quiet, headers, scenario, turn.durationS, config, expected);
      const l = await runScenario(load, logging, headers, scenario, turn.durationS, config, expected);
      rounds.push({ quiet_cpu_ms_per_request: q.cpu.api_cpu_ms_per_request, logging_cpu_ms_per_request: l.cpu.api_cpu_ms_per_request, quiet_req_per_s: q.req_per_s, logging_req_per_s: l.req_per_s });
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
  const quick = quickMode(env);
  return {
    adminUrl: env.CERTCTL_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: env.CERTCTL_BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
    quick,
    certificates: quick ? 10_000 : 100_000,
    durationS: positiveNumber(env, 'BENCH_DURATION_S', quick ? 2 : 10),
    warmupS: positiveNumber(env, 'BENCH_WARMUP_S', quick ? 0.5 : 3),
    connections: Math.round(positiveNumber(env, 'BENCH_CONNECTIONS', 16)),
    rounds: roundsFromEnv(env),
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

/** The ids of a page in the api's default order (created_at, id), and the rows matching, straight from PostgreSQL. */
function listExpected(where: string, params: unknown[], offset: number): (db: Client) => Promise<Expected> {
  return async (db) => {
    const ids = await db.query<{ id: string }>(
      `SELECT id FROM managed_certificates ${where} ORDER BY created_at, id LIMIT 50 OFFSET $${params.length + 1}`, [...params, offset]);
    const total = await db.query<{ n: string }>(`SELECT count(*) AS n FROM managed_certificates ${where}`, params);
    return { ids: ids.rows.map((r) => r.id), total: Number(total.rows[0]!.n) };
  };
}

function scenarios(now: Date, deepCursor: string, deepOffset: number): Scenario[] {
  const in30Days = new Date(now.getTime() + 30 * DAY_MS).toISOString();
  const deepPage = Math.floor(deepOffset / 50);
  return [
    // Row deepOffset + 1 onwards by keyset (cursor mode), the same depth as page=deepPage+1 of 50.
    { name: 'list_cursor_deep', path: `/api/v1/certificates?per_page=50&cursor=${deepCursor}`, kind: 'list', peers: false,
      expected: listExpected('', [], deepOffset) },
    { name: 'list_first_page', path: '/api/v1/certificates?per_page=50', kind: 'list', peers: true, expected: listExpected('', [], 0) },
    { name: 'list_deep_page', path: `/api/v1/certificates?per_page=50&page=${deepPage}`, kind: 'list', peers: false,
      expected: listExpected('', [], (deepPage - 1) * 50) },
    {
      name: 'filter_status_expiring_30d',
      path: `/api/v1/certificates?status=Active&expires_before=${encodeURIComponent(in30Days)}&per_page=50`, kind: 'list', peers: true,
      expected: listExpected('WHERE status = $1 AND expires_at < $2', ['Active', in30Days], 0),
    },
    // Matches svc-4242 and svc-42420…svc-42429 at 100,000 (svc-4242 alone at 10,000): an operator looking one service up.
    { name: 'search_free_text', path: '/api/v1/certificates?search=svc-4242&per_page=50', kind: 'list', peers: true,
      expected: listExpected(`WHERE search_text LIKE '%svc-4242%'`, [], 0) },
    { name: 'stats_summary', path: '/api/v1/stats/summary', kind: 'summary', peers: false,
      expected: async (db) => ({ ids: [], total: Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM managed_certificates')).rows[0]!.n) }) },
  ];
}

/** One request before the load, checked; throws with the scenario's name and the reason. */
async function sanityCheck(target: LoadTarget, headers: Record<string, string>, scenario: Scenario, expected: Expected): Promise<void> {
  const res = await httpGet(target.baseUrl, scenario.path, headers);
  const problem = res.status !== 200 ? `HTTP ${res.status}` : checkAnswer(scenario.kind, expected, res.body);
  if (problem) throw new Error(`sanity check of ${scenario.name} against ${target.name} failed: ${problem}\n  GET ${scenario.path}\n  ${res.body.slice(0, 500)}`);
}

interface LoadTarget { name: string; baseUrl: string; pid: number | undefined }

/** Load from the separate generator for `seconds`, then every sampled answer checked against the database. */
async function runScenario(
  load: LoadGenerator, target: LoadTarget, headers: Record<string, string>, scenario: Scenario, seconds: number, config: BenchConfig, expected: Expected,
): Promise<RunFigures> {
  const url = new URL(target.baseUrl);
  const before = cpuSnapshot(target.pid);
  const result = await load.run({
    host: url.hostname, port: Number(url.port), headers, requests: [{ method: 'GET', path: scenario.path }], connections: config.connections,
    durationMs: seconds * 1000, keepAlive: true, sampleEvery: 53, maxSamples: 5,
  });
  const cpu = cpuBetween(before, cpuSnapshot(target.pid), result.requests, cpus().length);
  if (result.first_error && !stopLoad.signal.aborted) throw new Error(`${scenario.name} on ${target.name}: ${result.errors} errors, ${result.non2xx} non-2xx; first: ${result.first_error}`);
  if (result.samples.length === 0) throw new Error(`${scenario.name} on ${target.name}: no answer sampled`);
  for (const sample of result.samples) {
    const problem = checkAnswer(scenario.kind, expected, Buffer.from(sample.body, 'base64').toString('utf8'));
    if (problem) throw new Error(`${scenario.name} on ${target.name}: a page under load was wrong: ${problem}`);
  }
  return { ...withoutSamples(result), cpu };
}

function evaluate(summaries: ScenarioSummary[]): Array<Target & { actual: number | null; pass: boolean; note?: string }> {
  return TARGETS.map((target) => {
    const summary = summaries.find((r) => r.name === target.scenario);
    if (!summary) return { ...target, actual: null, pass: false, note: 'scenario did not run' };
    const actual = target.metric === 'req_per_s' ? summary.req_per_s[OURS]!.median : summary.latency_p95_ms[OURS]!.median;
    const met = target.metric === 'req_per_s' ? actual >= target.threshold : actual < target.threshold;
    return { ...target, actual, pass: met, note: 'median of the rounds' };
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

function formatSummaries(summaries: ScenarioSummary[]): string {
  const header = ['scenario', 'contender', 'req/s median [min–max] n', 'p95 ms median', 'generator cpu% median', 'api cpu ms/req (last round)'];
  const rows = summaries.flatMap((s) => Object.keys(s.req_per_s).map((who) => [
    s.name, who, formatSpread(s.req_per_s[who]!), s.latency_p95_ms[who]!.median.toFixed(2), String(s.generator_cpu_pct[who]!.median),
    String(s.rounds[s.rounds.length - 1]?.results[who]?.cpu.api_cpu_ms_per_request ?? '-'),
  ]));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatTargets(targets: ReturnType<typeof evaluate>): string {
  return targets
    .map((t) => {
      const rule = t.metric === 'req_per_s' ? `req/s >= ${t.threshold}` : `p95 < ${t.threshold} ms`;
      return `  ${t.pass ? 'PASS' : 'FAIL'}  ${t.scenario} ${rule}  (actual ${t.actual ?? 'n/a'}, ${t.note ?? ''})`;
    })
    .join('\n');
}

function progress(message: string): void {
  process.stdout.write(`[bench] ${message}\n`);
}

interface TeamScopedCost {
  path: string;
  team: string;
  grants: unknown;
  expected_total: { admin: number; scoped: number };
  req_per_s: Record<string, Spread>;
  latency_p95_ms: Record<string, Spread>;
  ratio: RatioSummary;
  min: number;
  pass: boolean;
  /** EXPLAIN (ANALYZE, BUFFERS) of the scoped page's id query, as the api runs it. */
  scoped_plan: string[];
  rounds: Array<RoundRecord<RunFigures>>;
}

/**
 * The first page for an operator whose cert.read grant is scoped to one of the 20 teams, against the admin key
 * (every permission globally: sees everything), on the same api process in interleaved rounds. The operator's
 * grant is a role granted within the team through the API, loaded by the guard as for any key.
 */
async function measureTeamScoped(
  apiEnv: Record<string, string>, adminHeaders: Record<string, string>, config: BenchConfig, load: LoadGenerator, databaseUrl: string,
): Promise<TeamScopedCost> {
  const grants = [{ permission: 'cert.read', scope_type: 'team', scope_id: SCOPED_TEAM }];
  const scopedApi = await ApiProcess.start(apiEnv);
  try {
    await scopedApi.waitReady();
    // An operator of one team, made as an admin would: a key, its global role taken back, a role holding
    // cert.read granted to it within the team. The guard loads that grant (a team-scoped visibility).
    const call = async (method: string, route: string, body?: object): Promise<Record<string, unknown>> => {
      const res = await fetch(`${scopedApi.baseUrl}/api/v1${route}`, {
        method, headers: { ...adminHeaders, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
      });
      if (res.status >= 300) throw new Error(`${method} ${route} for the scoped operator: HTTP ${res.status} ${await res.text()}`);
      return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
    };
    const suffix = randomBytes(4).toString('hex');
    const key = await call('POST', '/auth/keys', { name: `bench-team-scoped-${suffix}`, role: 'viewer' });
    await call('DELETE', `/auth/keys/${String(key.id)}/roles/r-viewer`);
    const role = await call('POST', '/auth/roles', { name: `bench-team-reader-${suffix}`, permissions: ['cert.read'] });
    await call('POST', `/auth/keys/${String(key.id)}/roles`, { role_id: role.id, scope_type: 'team', scope_id: SCOPED_TEAM });
    const scopedHeaders = { authorization: `Bearer ${String(key.key)}`, accept: 'application/json' };
    const path = '/api/v1/certificates?per_page=50';
    const admin: Scenario = { name: 'list_first_page', path, kind: 'list', peers: false, expected: listExpected('', [], 0) };
    const scoped: Scenario = { name: TEAM_SCOPED, path, kind: 'list', peers: false, expected: listExpected('WHERE team_id = $1', [SCOPED_TEAM], 0) };
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    let expected: { admin: Expected; scoped: Expected };
    let plan: string[];
    try {
      expected = { admin: await admin.expected(db), scoped: await scoped.expected(db) };
      // The id query of CertificatesRepository.listJson for this caller (one team id: plain equality).
      const explained = await db.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM managed_certificates WHERE team_id = $1 ORDER BY created_at ASC NULLS LAST, id ASC LIMIT 50 OFFSET 0`, [SCOPED_TEAM]);
      plan = explained.rows.map((r) => r['QUERY PLAN']);
    } finally {
      await db.end();
    }
    const target: LoadTarget = { name: 'certctl_api_scoped_entry', baseUrl: scopedApi.baseUrl, pid: scopedApi.pid };
    await sanityCheck(target, adminHeaders, admin, expected.admin);
    await sanityCheck(target, scopedHeaders, scoped, expected.scoped);
    const ADMIN = 'admin_key';
    const SCOPED = 'team_scoped_operator';
    progress(`${TEAM_SCOPED}: warm-up ${config.warmupS} s each, then ${config.rounds} rounds of ${config.durationS} s × ${config.connections} connections (${ADMIN}, ${SCOPED}; one api)`);
    await runScenario(load, target, adminHeaders, admin, config.warmupS, config, expected.admin);
    await runScenario(load, target, scopedHeaders, scoped, config.warmupS, config, expected.scoped);
    const rounds = await interleave([
      { name: ADMIN, run: () => runScenario(load, target, adminHeaders, admin, config.durationS, config, expected.admin) },
      { name: SCOPED, run: () => runScenario(load, target, scopedHeaders, scoped, config.durationS, config, expected.scoped) },
    ], config.rounds, { signal: stopLoad.signal, progress: (m) => progress(`  ${m}`) });
    const ratio = ratioOf(rounds, (r) => r.req_per_s, SCOPED, ADMIN);
    const req = spreadOf(rounds, (r) => r.req_per_s);
    for (const [who, s] of Object.entries(req)) progress(`  ${who.padEnd(24)} ${formatSpread(s)} req/s`);
    progress(`  ${formatRatio(ratio)} (>= ${SCOPED_MIN_RATIO})`);
    return {
      path, team: SCOPED_TEAM, grants, expected_total: { admin: expected.admin.total, scoped: expected.scoped.total },
      req_per_s: req, latency_p95_ms: spreadOf(rounds, (r) => r.latency_ms.p95), ratio, min: SCOPED_MIN_RATIO,
      pass: ratio.median >= SCOPED_MIN_RATIO, scoped_plan: plan, rounds,
    };
  } finally {
    await scopedApi.stop();
  }
}

let api: ApiProcess | undefined;
let generator: LoadGenerator | undefined;
const peers: ChildProcess[] = [];

/** A peer server (bench/lib/<script>.js) as a child process on a free port, with the api's pool size. */
async function startPeer(name: string, script: string, databaseUrl: string): Promise<LoadTarget> {
  const port = await freePort();
  const child = spawn(process.execPath, [resolve(__dirname, 'lib', script)], {
    env: { ...process.env, PEER_DATABASE_URL: databaseUrl, PEER_PORT: String(port), PEER_POOL: String(POOL) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  peers.push(child);
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await httpGet(baseUrl, '/ready', {}).then((r) => r.status === 200, () => false);
    if (ok) return { name, baseUrl, pid: child.pid };
    await sleep(100);
  }
  throw new Error(`the peer ${name} did not start`);
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
  progress(`preparing database ${DATABASE} with ${config.certificates} certificates${config.reuse ? ' (BENCH_REUSE=1)' : ''}${config.quick ? ' (BENCH_QUICK=1: figures are not results)' : ''}…`);
  const dataset: DatasetInfo = await prepareDataset(config.adminUrl, DATABASE, config.reuse, config.certificates);
  progress(dataset.reused ? 'reusing the seeded database' : `seeded in ${dataset.seed_seconds} s`);
  const databaseUrl = withDatabase(config.adminUrl, DATABASE);

  const apiKey = `bench-${randomBytes(24).toString('base64url')}`;
  const apiEnv = {
    CERTCTL_DATABASE_URL: databaseUrl,
    CERTCTL_REDIS_URL: config.redisUrl,
    CERTCTL_QUEUE_PREFIX: 'certctl-bench',
    CERTCTL_API_KEY: apiKey,
    // As shipped: one log line per request.
    CERTCTL_LOG_LEVEL: 'info',
    CERTCTL_DATABASE_MAX_CONNS: String(POOL),
  };
  api = await ApiProcess.start(apiEnv);
  await api.waitReady();
  const ours: LoadTarget = { name: OURS, baseUrl: api.baseUrl, pid: api.pid };
  const peerJson = await startPeer(PEER_JSON, 'pg-json-peer.js', databaseUrl);
  const peerBare = await startPeer(PEER_BARE, 'pg-prepared-peer.js', databaseUrl);
  generator = LoadGenerator.start();
  progress(`api at ${api.baseUrl} (pid ${api.pid}, log level info), ${PEER_JSON} at ${peerJson.baseUrl}, ${PEER_BARE} at ${peerBare.baseUrl}, load generator pid ${generator.pid}`);

  const headers = { authorization: `Bearer ${apiKey}`, accept: 'application/json' };
  const startedAt = new Date();
  const deepOffset = Math.floor(config.certificates / 2);
  const every = scenarios(startedAt, await cursorAt(databaseUrl, deepOffset), deepOffset);
  const unknown = ONLY_SCENARIOS.filter((name) => name !== TEAM_SCOPED && !every.some((x) => x.name === name));
  if (unknown.length) throw new Error(`BENCH_SCENARIOS names no scenario: ${unknown.join(', ')} (known: ${[...every.map((x) => x.name), TEAM_SCOPED].join(', ')})`);
  const all = ONLY_SCENARIOS.length ? every.filter((x) => ONLY_SCENARIOS.includes(x.name)) : every;
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  const expectations = new Map<string, Expected>();
  try {
    for (const scenario of all) expectations.set(scenario.name, await scenario.expected(db));
  } finally {
    await db.end();
  }

  const summaries: ScenarioSummary[] = [];
  for (const scenario of all) {
    if (stopLoad.signal.aborted) return;
    const expected = expectations.get(scenario.name)!;
    const targets = scenario.peers ? [ours, peerJson, peerBare] : [ours];
    for (const target of targets) await sanityCheck(target, headers, scenario, expected);
    progress(`${scenario.name}: warm-up ${config.warmupS} s each, then ${config.rounds} rounds of ${config.durationS} s × ${config.connections} connections (${targets.map((t) => t.name).join(', ')})`);
    for (const target of targets) await runScenario(generator, target, headers, scenario, config.warmupS, config, expected);
    const rounds = await interleave(
      targets.map((target) => ({ name: target.name, run: () => runScenario(generator!, target, headers, scenario, config.durationS, config, expected) })),
      config.rounds, { signal: stopLoad.signal, progress: (m) => progress(`  ${m}`) },
    );
    const ratios = scenario.peers ? [ratioOf(rounds, (r) => r.req_per_s, OURS, PEER_JSON), ratioOf(rounds, (r) => r.req_per_s, OURS, PEER_BARE)] : [];
    const summary: ScenarioSummary = {
      name: scenario.name, path: scenario.path, expected_total: expected.total,
      req_per_s: spreadOf(rounds, (r) => r.req_per_s), latency_p95_ms: spreadOf(rounds, (r) => r.latency_ms.p95),
      generator_cpu_pct: spreadOf(rounds, (r) => r.generator.cpu_pct), ratios, rounds,
    };
    summaries.push(summary);
    for (const [who, s] of Object.entries(summary.req_per_s)) {
      const bound = rounds.filter((r) => r.results[who]?.generator_bound).length;
      progress(`  ${who.padEnd(24)} ${formatSpread(s)} req/s${bound ? `  (generator-bound in ${bound} of ${rounds.length} rounds: a lower bound)` : ''}`);
    }
    for (const r of ratios) progress(`  ${formatRatio(r)}`);
  }
  await api.stop();

  // The cost of authorization: its own api process (the bench entry that layers the grants), after the others.
  const teamScoped = !ONLY_SCENARIOS.length || ONLY_SCENARIOS.includes(TEAM_SCOPED)
    ? await measureTeamScoped(apiEnv, headers, config, generator, databaseUrl) : null;

  // The cost of request logging (full mode): two fresh apis, info and warn, in turns.
  const firstPage = all.find((x) => x.name === 'list_first_page');
  const logging = config.quick || ONLY_SCENARIOS.length || !firstPage ? null : await measureLoggingCost(apiEnv, headers, firstPage, config, generator, expectations.get(firstPage.name)!);

  const ratios = RATIO_TARGETS.filter((t) => summaries.some((s) => s.name === t.scenario)).map((t) => {
    const r = summaries.find((s) => s.name === t.scenario)!.ratios;
    const vsJson = r.find((x) => x.to === PEER_JSON)!;
    const vsBare = r.find((x) => x.to === PEER_BARE)!;
    return { scenario: t.scenario, vs_pg_json_peer: vsJson, vs_bare_json_agg: vsBare, min_vs_pg_json_peer: t.min, pass: vsJson.median >= t.min };
  });
  // Keyset pages: as fast as the first page, however deep (ours against ours, medians of different scenarios).
  const cursorDeep = summaries.find((s) => s.name === 'list_cursor_deep');
  const firstPageSummary = summaries.find((s) => s.name === 'list_first_page');
  const cursorRatio = cursorDeep && firstPageSummary ? round(cursorDeep.req_per_s[OURS]!.median / firstPageSummary.req_per_s[OURS]!.median, 3) : NaN;
  const targets = evaluate(summaries);
  writeResultsFile(RESULTS_FILE, {
    timestamp: startedAt.toISOString(),
    quick: config.quick,
    machine: { ...(await machineInfo(databaseUrl, busyAtStart)), loadavg_at_end: loadAverage() },
    settings: {
      duration_s: config.durationS, warmup_s: config.warmupS, connections: config.connections, rounds: config.rounds, database_pool_each: POOL,
      api_log_level: 'info', client: 'separate load-generator process (bench/lib/load-worker.ts), keep-alive, closed loop; rate = 2xx / (first request → last answer) by its clock',
      answers_checked: 'every sanity check and up to 5 sampled pages per run: ids in order and total equal to PostgreSQL\'s for the same query',
    },
    dataset,
    scenarios: summaries,
    ratios,
    scenarios_run: ONLY_SCENARIOS.length ? ONLY_SCENARIOS : 'all',
    cursor_deep_over_first_page: { ratio: Number.isNaN(cursorRatio) ? null : cursorRatio, min: 0.9, pass: cursorRatio >= 0.9 },
    targets,
    request_logging: logging,
    team_scoped_first_page: teamScoped,
    all_targets_met: targets.every((t) => t.pass) && ratios.every((r) => r.pass) && cursorRatio >= 0.9 && (logging?.pass ?? true) && (teamScoped?.pass ?? true),
  });
  const ratioText = ratios.map((r) => `  ${r.pass ? 'PASS' : 'FAIL'}  ${formatRatio(r.vs_pg_json_peer)} (>= ${r.min_vs_pg_json_peer}); ${formatRatio(r.vs_bare_json_agg)}`).join('\n');
  const loggingText = logging
    ? `  ${logging.pass ? 'PASS' : 'FAIL'}  request logging = ${round(logging.share * 100, 2)}% of the api's CPU per request (<= ${LOGGING_MAX_SHARE * 100}%): the logger ${logging.logger_cpu_ms_per_request} ms in isolation`
    : '  request logging cost: skipped in quick mode';
  const scopedText = teamScoped
    ? `  ${teamScoped.pass ? 'PASS' : 'FAIL'}  ${formatRatio(teamScoped.ratio)} (>= ${SCOPED_MIN_RATIO}), first page of ${teamScoped.expected_total.scoped} rows of ${SCOPED_TEAM} vs all ${teamScoped.expected_total.admin}`
    : `  ${TEAM_SCOPED}: not run`;
  process.stdout.write(`\n${formatSummaries(summaries)}\n\ntargets:\n${formatTargets(targets)}\n${ratioText}\n  list_cursor_deep / list_first_page (ours) = ${cursorRatio} (>= 0.9)\n${scopedText}\n${loggingText}\n\nwritten: ${RESULTS_FILE}\n`);
}

let exiting: Promise<never> | undefined;

/** Stops the load, the api and the peers, then exits; the first caller's exit code wins. */
function shutdown(code: number): Promise<never> {
  exiting ??= (async () => {
    stopLoad.abort();
    generator?.stop();
    for (const peer of peers) peer.kill('SIGTERM');
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
  for (const peer of peers) peer.kill('SIGKILL');
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
