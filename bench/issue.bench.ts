/**
 * Issuance pipeline benchmark: Local CA issuances (server keygen, ECDSA P-256) end to end, from the api through the
 * BullMQ issuance queue and the orchestrator to a stored certificate version; then, in the same run, the bare rate of
 * libs/pki key + sign in this one process, and the ratio of the two.
 *
 *   npm run bench:issue
 *   BENCH_CONCURRENCIES=25,50 BENCH_CERTIFICATES=5000 BENCH_SWEEP_CERTIFICATES=600 BENCH_BULK_CHUNK=250 npm run bench:issue
 *
 * Per value of CERTCTL_RENEWAL_CONCURRENCY (BENCH_CONCURRENCIES, default 25,8,50; the first is the shipped default and
 * runs BENCH_CERTIFICATES, 5,000; the others are a sweep of BENCH_SWEEP_CERTIFICATES, 600 each, to keep to minutes):
 *  1. (Re)creates the database certctl_bench_issue, applies the real migrations, deletes the Redis keys of the
 *     bench queue prefix (certctl-bench-issue), starts the built api and orchestrator (server keygen) and waits
 *     for both /ready.
 *  2. Creates an owner and a GenericCA issuer through the api, and BENCH_WARMUP (50) certificates through
 *     POST /api/v1/certificates; renews those one request each and waits until they are issued (Local CA root
 *     created, JIT, pools).
 *  3. Seeds BENCH_CERTIFICATES (5,000) certificates with SQL, ANALYZE, then triggers one renewal of each through
 *     POST /api/v1/certificates/bulk-renew, BENCH_BULK_CHUNK (250) certificate_ids per request and BENCH_BULK_IN_FLIGHT
 *     (2) requests in flight, and waits until every job is Completed or Failed, sampling each second the jobs by
 *     status and the CPU of the api, the orchestrator, the PostgreSQL backends of the bench database, Redis, this
 *     process and the machine; and scrapes both processes' /metrics (orchestrator job duration histogram,
 *     event-loop delay) around the window, and polls pg_stat_activity every 100 ms (what the backends wait on, and
 *     which statements wait on locks).
 *  4. From the database: certificates/s = completed / (last jobs.completed_at - first jobs.created_at), latency
 *     per certificate = completed_at - created_at, and its stages (queue wait = started_at - created_at, work until
 *     the version insert = version.created_at - started_at; the orchestrator stores a batch of versions and
 *     completes their jobs in one statement, so the completing stage is 0). Plus the trigger requests' latency,
 *     CPU ms per certificate per process, transactions and rows per certificate (pg_stat_database) and Redis
 *     commands per certificate (server-wide). Checks the versions (one per job, ECDSA 256, key stored encrypted,
 *     chain verifies to the Local CA root).
 * Secondary figure (BENCH_PER_REQUEST=0 skips it): the same BENCH_CERTIFICATES at the first concurrency, triggered
 * with one POST /api/v1/certificates/{id}/renew per certificate, BENCH_TRIGGER_CONCURRENCY (24) in flight.
 * Then EXPLAIN ANALYZE of the hot statements (last run's database, kept for inspection) and the bare pki rate:
 * BENCH_BARE_N (2,000) x (generateKeyObjects P-256 + issueLeafCertificate, what the Local CA does per server-keygen
 * job) with a P-256 CA from createCaCertificate (the Local CA's root spec), one at a time and BENCH_BARE_CONCURRENCY
 * (16) at a time; the orchestrator's whole crypto path (adds the key's PKCS#8 export and encryption) for a quarter
 * of that; the CSR path (agent CSRs, ACME) for comparison; and the time of each step.
 * The ratio is end to end (the 5,000 run) / bare key+sign (best of the two).
 *
 * Diagnostic (BENCH_WHAT_IF=0 skips it, never part of the verdict): one more sweep-sized run at the first concurrency
 * with the audit hash chain's trigger disabled in the bench database (seq from a sequence), to measure what the
 * chain-head row lock, taken by every audit insert and held to commit, costs the pipeline.
 *
 * The machine is shared: it first waits (up to BENCH_QUIET_WAIT_S, 90 s) for CPU use below BENCH_MAX_BUSY_PCT
 * (60; 100 = one core) and records how busy it was; each run's CPU table shows what other processes took.
 * A missed target does not fail the process; an error (setup, api/orchestrator crash, timeout) does (exit 1).
 * Both children are stopped on exit, error and Ctrl-C; the bench Redis keys are deleted at the end.
 */
import 'reflect-metadata';
import { generateKeyPairSync, randomBytes, sign as nodeSign } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, loadavg, release, tmpdir, totalmem, type as osType } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import {
  createCaCertificate, createCsr, describeCertificate, encryptSecret, generateKeyObjects, generateKeyPair, issueLeafCertificate, KeySpec,
  namesMismatch, parseCsr, privateKeyPemOf, signLeafCertificate, SigningAuthority, splitPemChain, verifyChain, x509,
} from '@certctl/pki';
import { ApiProcess } from './lib/api-process';
import { freshDatabase, withDatabase } from './lib/bench-dataset';
import { cpuBetween, cpuSnapshot } from './lib/cpu';
import { LoadResult, round, summarize } from './lib/http-load';
import { expectJson, httpJson } from './lib/http-json';
import { machineTicks, pidsByComm, threadTicks, ticksBetween, ticksOf, TICKS_PER_S } from './lib/proc-ticks';
import { eventLoopLag, histogramDelta, HistogramDelta, PromSample, scrape } from './lib/prom-scrape';
import { ActivityProfile, ActivitySampler } from './lib/pg-activity';
import { OrchestratorProcess } from './lib/worker-process';
import { resultsFile } from './lib/results-file';
import { formatRatio, formatSpread, interleave, loadAverage, quickMode, ratioOf, RoundRecord, roundsFromEnv, spread, Spread, spreadOf } from './lib/rounds';

const RESULTS_FILE = resultsFile('issue');
const execFileAsync = promisify(execFile);
const DATABASE = 'certctl_bench_issue';
const QUEUE_PREFIX = 'certctl-bench-issue';
const TARGET_CERTS_PER_S = 300;
const LEAF_SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };
/** The Local CA connector's generated root (libs/issuers local-ca.connector.ts ROOT_SPEC). */
const CA_SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

interface BenchConfig {
  adminUrl: string;
  redisUrl: string;
  certificates: number;
  /** Certificates of the runs after the first (the concurrency sweep), to keep the whole benchmark to minutes. */
  sweepCertificates: number;
  /** Also a diagnostic run without the audit hash chain's trigger (BENCH_WHAT_IF=0 skips it). */
  whatIf: boolean;
  warmup: number;
  triggerConcurrency: number;
  /** Certificates per POST /certificates/bulk-renew request, and how many such requests are in flight. */
  bulkChunk: number;
  bulkInFlight: number;
  /** Also a run triggered with one POST /renew per certificate (BENCH_PER_REQUEST=0 skips it). */
  perRequest: boolean;
  concurrencies: number[];
  bareN: number;
  bareConcurrency: number;
  maxBusyPct: number;
  quietWaitS: number;
  runTimeoutS: number;
  /** BENCH_QUICK=1: a few hundred certificates, no sweep or diagnostic runs; figures are not results. */
  quick: boolean;
  rounds: number;
}

type Latency = LoadResult['latencyMs'];

interface CpuShare {
  pct: number | null;
  cpu_ms_per_certificate: number | null;
}

interface TimelinePoint {
  t_s: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  other: number;
  cpu_pct: { api: number | null; orchestrator: number | null; orchestrator_main_thread: number | null; postgres: number; redis: number | null; bench: number; machine: number | null };
}

type TriggerMode = 'bulk-renew' | 'renew-per-certificate';

interface RunResult {
  renewal_concurrency: number;
  /** How the renewals were asked for: POST /certificates/bulk-renew in chunks, or one POST /renew each. */
  trigger: { mode: TriggerMode; certificates_per_request: number; requests_in_flight: number };
  /** Set on diagnostic runs that change the bench database to test a hypothesis; never part of the verdict. */
  what_if?: string;
  orchestrator_db_pool: number;
  api_db_pool: number;
  certificates: number;
  /** Jobs opened and queued by the trigger requests. */
  accepted: number;
  rejected: number;
  first_rejection?: string;
  completed: number;
  failed: number;
  first_failure?: string;
  versions_stored: number;
  window_s: number;
  certs_per_s: number;
  /** Client clock: first renew request sent until the sampler saw every job finished (1 s sampling). */
  wall_certs_per_s: number;
  /**
   * The headline. Client clock: first renew request sent → the bench sees the last job finished (polled every
   * CLIENT_POLL_MS); completed certificates over that.
   */
  client_clock: {
    elapsed_s: number; certs_per_s: number; poll_ms: number;
    /** This process (the client: trigger requests and polls) over the same interval: its CPU (100 = one core) and event-loop delay. */
    client_cpu_pct: number; client_event_loop_delay_ms: { p50: number; p99: number; max: number };
  };
  /** Issued certificates `openssl verify -purpose sslserver` accepts against the Local CA root (and the chain's intermediates). */
  openssl_verify: { certificates: number; accepted: number; first_refusal?: string };
  latency_ms: Latency;
  stages_ms: { queue_wait: Latency; work_until_version_insert: Latency; completing_transaction: Latency };
  attempts_over_1: number;
  /**
   * One certificate at a time on the idle pipeline (after the warm-up, before the measured burst): POST /renew →
   * the job Completed and the certificate Active, by this process's clock (the database polled every 2 ms).
   */
  single_certificate_ms: Spread;
  /** Per trigger request (a bulk-renew chunk or one renew). */
  api_trigger: { requests: number; latency_ms: Latency; trigger_phase_s: number; certificates_per_s: number };
  cpu: {
    window_s: number;
    api: CpuShare;
    /** The api's main (JavaScript) thread alone; the rest of `api` is libuv pool, GC and compiler threads. */
    api_main_thread: CpuShare;
    orchestrator: CpuShare;
    /** The orchestrator's main (JavaScript) thread alone: 100% means its event loop is saturated. */
    orchestrator_main_thread: CpuShare;
    postgres_bench_backends: CpuShare;
    redis: CpuShare;
    bench_process: CpuShare;
    machine_busy_pct: number | null;
    /** Machine busy minus the processes above: PostgreSQL of other databases, other engineers' work, the kernel. */
    other_pct: number | null;
    /** api + orchestrator + PostgreSQL + Redis CPU per certificate, and the rate all cores could sustain at that cost. */
    pipeline_cpu_ms_per_certificate: number | null;
    cpu_bound_ceiling_certs_per_s: number | null;
  };
  /** From the processes' own /metrics over the measured window. */
  process_metrics: {
    orchestrator_issuance_job_ms: HistogramDelta;
    orchestrator_event_loop_lag: ReturnType<typeof eventLoopLag>;
    api_event_loop_lag: ReturnType<typeof eventLoopLag>;
  };
  /** What the bench database's backends were doing, polled every 100 ms over the measured window. */
  pg_activity: ActivityProfile;
  /** Per certificate, bench sampler queries excluded; scans and row changes per table (pg_stat_user_tables). */
  pg_tables_per_certificate: Record<string, { idx_scan: number; seq_scan: number; ins: number; upd: number }>;
  per_certificate: { pg_transactions: number; pg_rows_inserted: number; pg_rows_updated: number; pg_rows_fetched: number; redis_commands_server_wide: number };
  checks: { chain_verifies: boolean; one_version_per_job: boolean; key_algorithms: Record<string, number>; keys_encrypted: number; distinct_fingerprints: number };
  timeline: TimelinePoint[];
}

interface BareStep {
  step: string;
  ms_per_call: number;
}

interface BareResult {
  name: string;
  description: string;
  n: number;
  in_flight: number;
  elapsed_s: number;
  certs_per_s: number;
  cpu_ms_per_certificate: number;
  cpu_pct: number;
  latency_ms: Latency;
}

function readConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const quick = quickMode(env);
  const list = (env.BENCH_CONCURRENCIES || (quick ? '25' : '25,8,50')).split(',').map((v) => Number(v.trim()));
  if (list.some((v) => !Number.isInteger(v) || v < 1 || v > 500)) throw new Error(`BENCH_CONCURRENCIES must be integers 1-500, got "${env.BENCH_CONCURRENCIES}"`);
  return {
    adminUrl: env.CERTCTL_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: env.CERTCTL_BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
    certificates: int(env, 'BENCH_CERTIFICATES', quick ? 200 : 5_000),
    sweepCertificates: int(env, 'BENCH_SWEEP_CERTIFICATES', 600),
    whatIf: !quick && env.BENCH_WHAT_IF !== '0',
    warmup: int(env, 'BENCH_WARMUP', quick ? 10 : 50),
    triggerConcurrency: int(env, 'BENCH_TRIGGER_CONCURRENCY', 24),
    bulkChunk: Math.max(1, int(env, 'BENCH_BULK_CHUNK', 250)),
    bulkInFlight: Math.max(1, int(env, 'BENCH_BULK_IN_FLIGHT', 2)),
    perRequest: !quick && env.BENCH_PER_REQUEST !== '0',
    concurrencies: list,
    bareN: int(env, 'BENCH_BARE_N', quick ? 200 : 2_000),
    bareConcurrency: int(env, 'BENCH_BARE_CONCURRENCY', 16),
    maxBusyPct: int(env, 'BENCH_MAX_BUSY_PCT', 60),
    quietWaitS: int(env, 'BENCH_QUIET_WAIT_S', 90),
    runTimeoutS: int(env, 'BENCH_RUN_TIMEOUT_S', 900),
    quick,
    rounds: roundsFromEnv(env),
  };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

function progress(message: string): void {
  process.stdout.write(`[bench:issue] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Machine load

interface QuietCheck {
  busy_pct_samples: number[];
  busy_pct_at_start: number | null;
  waited_s: number;
  quiet: boolean;
  loadavg_at_start: number[];
}

/** CPU the machine spends over `ms`, before the benchmark adds any (100 = one core; null off Linux). */
async function machineBusyPct(ms: number): Promise<number | null> {
  const before = cpuSnapshot(undefined);
  await sleep(ms);
  return cpuBetween(before, cpuSnapshot(undefined), 0, cpus().length).machine_busy_pct;
}

/** Waits for a quieter moment: re-measures every few seconds until below the threshold or out of patience. */
async function waitForQuiet(config: BenchConfig): Promise<QuietCheck> {
  const started = Date.now();
  const samples: number[] = [];
  for (;;) {
    const busy = await machineBusyPct(2_000);
    if (busy === null) return { busy_pct_samples: [], busy_pct_at_start: null, waited_s: 0, quiet: true, loadavg_at_start: loadavg().map((v) => round(v, 2)) };
    samples.push(busy);
    const waited = (Date.now() - started) / 1000;
    if (busy <= config.maxBusyPct || waited >= config.quietWaitS) {
      const quiet = busy <= config.maxBusyPct;
      if (!quiet) progress(`warning: the machine is still ${busy}% busy (100 = one core) after ${Math.round(waited)} s; running anyway`);
      return { busy_pct_samples: samples, busy_pct_at_start: busy, waited_s: Math.round(waited), quiet, loadavg_at_start: loadavg().map((v) => round(v, 2)) };
    }
    progress(`machine ${busy}% busy (load ${loadavg().map((v) => v.toFixed(2)).join(' ')}); waiting for a quieter moment…`);
    await sleep(3_000);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Database and Redis

async function withClient<T>(url: string, work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url, application_name: 'certctl-bench-issue' });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/** Deletes every key of the bench queue prefix (BullMQ keys are `<prefix>:<queue>:…`). */
async function clearQueueKeys(redisUrl: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${QUEUE_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

async function redisCommandsProcessed(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  const match = /total_commands_processed:(\d+)/.exec(info);
  return match ? Number(match[1]) : NaN;
}

interface PgCounters {
  xact_commit: number;
  tup_inserted: number;
  tup_updated: number;
  tup_fetched: number;
}

async function pgCounters(db: Client): Promise<PgCounters> {
  // The statistics are a snapshot per transaction; clear it so each reading is fresh.
  await db.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await db.query<Record<keyof PgCounters, string>>(
    'SELECT xact_commit, tup_inserted, tup_updated, tup_fetched FROM pg_stat_database WHERE datname = $1',
    [DATABASE],
  );
  const row = rows[0]!;
  return { xact_commit: Number(row.xact_commit), tup_inserted: Number(row.tup_inserted), tup_updated: Number(row.tup_updated), tup_fetched: Number(row.tup_fetched) };
}

async function benchBackendPids(db: Client): Promise<number[]> {
  // The bench's own connections (application_name certctl-bench-issue*) are not the pipeline's.
  const { rows } = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND NOT starts_with(application_name, 'certctl-bench-issue')`,
    [DATABASE],
  );
  return rows.map((r) => r.pid);
}

// ---------------------------------------------------------------------------------------------------------------
// One end-to-end run

let api: ApiProcess | undefined;
let orchestrator: OrchestratorProcess | undefined;
const stopAll = new AbortController();

const WHAT_IF_NO_AUDIT_CHAIN =
  'audit_events trigger trg_audit_events_seal (the commit-time chaining) disabled in the bench database and seq taken from a sequence: no global chain-head row lock, rows not hash-chained';

async function runEndToEnd(
  config: BenchConfig, concurrency: number, certificates: number, mode: TriggerMode, whatIf?: 'no_audit_chain',
): Promise<RunResult> {
  const url = withDatabase(config.adminUrl, DATABASE);
  progress(`--- CERTCTL_RENEWAL_CONCURRENCY=${concurrency}, ${mode}${whatIf ? ` (what-if: ${whatIf})` : ''}: fresh database ${DATABASE}, queue prefix ${QUEUE_PREFIX}`);
  await freshDatabase(config.adminUrl, DATABASE);
  if (whatIf === 'no_audit_chain') {
    // seq is unique and filled by the chain trigger: a sequence numbers the rows instead (hashes stay empty).
    await withClient(url, (db) =>
      db.query(`CREATE SEQUENCE bench_audit_seq; ALTER TABLE audit_events ALTER COLUMN seq SET DEFAULT nextval('bench_audit_seq');
                ALTER TABLE audit_events DISABLE TRIGGER trg_audit_events_seal`));
  }
  await clearQueueKeys(config.redisUrl);

  const apiPool = 25;
  // The orchestrator needs a connection per job in flight; the shipped default pool (25) would cap larger values.
  const orchestratorPool = Math.max(25, concurrency + 5);
  const apiKey = `bench-${randomBytes(24).toString('base64url')}`;
  const common: Record<string, string> = {
    CERTCTL_DATABASE_URL: url,
    CERTCTL_REDIS_URL: config.redisUrl,
    CERTCTL_QUEUE_PREFIX: QUEUE_PREFIX,
    CERTCTL_API_KEY: apiKey,
    CERTCTL_CONFIG_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    CERTCTL_KEYGEN_MODE: 'server',
    // As shipped.
    CERTCTL_LOG_LEVEL: 'info',
    CERTCTL_DEMO_SEED: 'false',
  };
  const apiChild = await ApiProcess.start({ ...common, CERTCTL_DATABASE_MAX_CONNS: String(apiPool) });
  api = apiChild;
  const orch = await OrchestratorProcess.start({
    ...common, CERTCTL_RENEWAL_CONCURRENCY: String(concurrency), CERTCTL_DATABASE_MAX_CONNS: String(orchestratorPool),
  });
  orchestrator = orch;
  try {
    await Promise.all([apiChild.waitReady(), orch.waitReady()]);
    progress(`api ready (pid ${apiChild.pid}), orchestrator ready (pid ${orch.pid})`);
    const result = await measure(config, concurrency, certificates, mode, url, apiKey, apiChild, orch, apiPool, orchestratorPool);
    return whatIf ? { ...result, what_if: WHAT_IF_NO_AUDIT_CHAIN } : result;
  } finally {
    await Promise.all([apiChild.stop(), orch.stop()]);
  }
}

async function measure(
  config: BenchConfig, concurrency: number, certificates: number, mode: TriggerMode, url: string, apiKey: string, api: ApiProcess,
  orchestrator: OrchestratorProcess, apiPool: number, orchestratorPool: number,
): Promise<RunResult> {
  const headers = { authorization: `Bearer ${apiKey}`, accept: 'application/json' };
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(config.triggerConcurrency, config.bulkInFlight) });
  const triggerSettings: RunResult['trigger'] = mode === 'bulk-renew'
    ? { mode, certificates_per_request: config.bulkChunk, requests_in_flight: config.bulkInFlight }
    : { mode, certificates_per_request: 1, requests_in_flight: config.triggerConcurrency };
  const db = new Client({ connectionString: url, application_name: 'certctl-bench-issue' });
  await db.connect();
  try {
    const owner = expectJson<{ id: string }>(
      await httpJson('POST', api.baseUrl, '/api/v1/owners', headers, { name: 'bench owner', email: 'bench@example.com' }, agent), 201, 'create owner');
    const issuer = expectJson<{ id: string }>(
      await httpJson('POST', api.baseUrl, '/api/v1/issuers', headers, { name: 'bench local CA', type: 'GenericCA' }, agent), 201, 'create issuer');

    // Warm-up: certificates created through the api, issued once (creates the Local CA root), not measured.
    const warmIds: string[] = [];
    for (let i = 1; i <= config.warmup; i++) {
      const id = `mc-bench-w-${String(i).padStart(5, '0')}`;
      expectJson(await httpJson('POST', api.baseUrl, '/api/v1/certificates', headers, {
        id, name: `bench-warmup-${i}`, common_name: `warm-${i}.bench.example`, sans: [`warm-${i}.bench.example`], owner_id: owner.id, issuer_id: issuer.id,
      }, agent), 201, 'create certificate');
      warmIds.push(id);
    }
    if (warmIds.length) {
      progress(`warm-up: ${warmIds.length} issuances`);
      const warm = await trigger(api.baseUrl, headers, agent, warmIds, config.triggerConcurrency);
      if (warm.jobIds.length !== warmIds.length) throw new Error(`warm-up renew failed: ${warm.firstRejection ?? 'unknown'}`);
      await waitFinished(db, warm.jobIds, 60_000);
    }
    const single = await singleCertificateLatency(api.baseUrl, headers, agent, db, warmIds.slice(0, config.quick ? 5 : 20));
    progress(`one certificate at a time, POST /renew → Active: median ${single.median} ms [${single.min}–${single.max}] n=${single.n}`);

    // The measured certificates, seeded in one statement.
    await db.query(
      `INSERT INTO managed_certificates (id, name, common_name, sans, owner_id, issuer_id, renewal_policy_id, status)
       SELECT 'mc-bench-m-' || lpad(g::text, 5, '0'), 'bench-m-' || g, 'svc-' || g || '.bench.example',
              ARRAY['svc-' || g || '.bench.example', 'alt-' || g || '.bench.example'], $1, $2, 'rp-default', 'Pending'
         FROM generate_series(1, $3::int) g`,
      [owner.id, issuer.id, certificates],
    );
    await db.query('ANALYZE');
    const certIds = Array.from({ length: certificates }, (_, i) => `mc-bench-m-${String(i + 1).padStart(5, '0')}`);
    await sleep(1_000);

    // Measured: trigger every renewal, sample until every job has finished.
    const dbStart = (await db.query<{ now: Date }>('SELECT now()')).rows[0]!.now;
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
    const sampler = new Sampler(db, redis, dbStart, api, orchestrator);
    const activityDb = new Client({ connectionString: url, application_name: 'certctl-bench-issue-activity' });
    await activityDb.connect();
    const activity = new ActivitySampler(activityDb, DATABASE);
    try {
      await sampler.start();
      activity.start();
      progress(`triggering ${certIds.length} renewals: ${triggerSettings.certificates_per_request} per ${mode} request, ${triggerSettings.requests_in_flight} in flight…`);
      const clientDelay = monitorEventLoopDelay({ resolution: 5 });
      clientDelay.enable();
      const clientCpuBefore = process.cpuUsage();
      const triggerStartNs = process.hrtime.bigint();
      const triggered = mode === 'bulk-renew'
        ? await triggerBulk(api.baseUrl, headers, agent, certIds, config.bulkChunk, config.bulkInFlight)
        : await trigger(api.baseUrl, headers, agent, certIds, config.triggerConcurrency);
      progress(`${triggered.jobIds.length} accepted in ${triggered.elapsedS.toFixed(1)} s; waiting for the orchestrator…`);
      const deadline = Date.now() + config.runTimeoutS * 1000;
      const clientDoneNs = await waitAllFinished(db, triggered.jobIds, deadline, orchestrator);
      clientDelay.disable();
      const clientCpu = process.cpuUsage(clientCpuBefore);
      while (!sampler.finished(triggered.jobIds.length)) {
        if (stopAll.signal.aborted) throw new Error('interrupted');
        if (!orchestrator.running) throw new Error(`orchestrator exited during the run:\n${orchestrator.output()}`);
        if (Date.now() > deadline) throw new Error(`not finished after ${config.runTimeoutS} s: ${JSON.stringify(sampler.last())}\n${orchestrator.output()}`);
        await sleep(200);
      }
      const wallS = Number(sampler.lastSampleNs() - triggerStartNs) / 1e9;
      const pgActivity = await activity.stop();
      const window = await sampler.stop();
      const result = await collect(db, certificates, concurrency, triggerSettings, orchestratorPool, apiPool, triggered, window, wallS, pgActivity);
      const clientS = Number(clientDoneNs - triggerStartNs) / 1e9;
      return {
        ...result,
        single_certificate_ms: single,
        client_clock: {
          elapsed_s: round(clientS, 3), certs_per_s: round(result.completed / clientS, 1), poll_ms: CLIENT_POLL_MS,
          client_cpu_pct: Math.round(((clientCpu.user + clientCpu.system) / 1000 / (clientS * 1000)) * 100),
          // The monitor records whole intervals between its 5 ms ticks: the lateness is beyond those 5 ms.
          client_event_loop_delay_ms: {
            p50: round(Math.max(0, clientDelay.percentile(50) / 1e6 - 5), 2), p99: round(Math.max(0, clientDelay.percentile(99) / 1e6 - 5), 2),
            max: round(Math.max(0, clientDelay.max / 1e6 - 5), 2),
          },
        },
        openssl_verify: await opensslVerify(db, triggered.jobIds),
      };
    } finally {
      await activity.stop().catch(() => undefined);
      await sampler.stop().catch(() => undefined);
      await activityDb.end().catch(() => undefined);
      redis.disconnect();
    }
  } finally {
    agent.destroy();
    await db.end().catch(() => undefined);
  }
}

interface Triggered {
  jobIds: string[];
  /** Per request. */
  latencies: number[];
  rejected: number;
  firstRejection?: string;
  elapsedS: number;
}

/** POST /renew for each certificate, `inFlight` at a time over keep-alive sockets. */
async function trigger(baseUrl: string, headers: Record<string, string>, agent: Agent, certIds: string[], inFlight: number): Promise<Triggered> {
  const result: Triggered = { jobIds: [], latencies: [], rejected: 0, elapsedS: 0 };
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < certIds.length && !stopAll.signal.aborted) {
      const id = certIds[next++]!;
      try {
        const res = await httpJson('POST', baseUrl, `/api/v1/certificates/${id}/renew`, headers, {}, agent);
        result.latencies.push(res.latencyMs);
        if (res.status === 202) {
          result.jobIds.push((JSON.parse(res.body) as { job_id: string }).job_id);
        } else {
          result.rejected++;
          result.firstRejection ??= `HTTP ${res.status} ${res.body.slice(0, 300)}`;
        }
      } catch (err) {
        result.rejected++;
        result.firstRejection ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  result.elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  return result;
}

/** Renews each certificate alone and times POST /renew → its job Completed and the certificate Active. */
async function singleCertificateLatency(baseUrl: string, headers: Record<string, string>, agent: Agent, db: Client, certIds: string[]): Promise<Spread> {
  const latencies: number[] = [];
  for (const id of certIds) {
    const started = performance.now();
    const res = await httpJson('POST', baseUrl, `/api/v1/certificates/${id}/renew`, headers, {}, agent);
    const { job_id: jobId } = expectJson<{ job_id: string }>(res, 202, `renew ${id}`);
    for (;;) {
      const { rows } = await db.query<{ job: string; certificate: string; error: string | null }>(
        'SELECT j.status AS job, c.status AS certificate, j.last_error AS error FROM jobs j JOIN managed_certificates c ON c.id = j.certificate_id WHERE j.id = $1', [jobId]);
      const row = rows[0];
      if (row?.job === 'Failed') throw new Error(`single issuance of ${id} failed: ${row.error ?? ''}`);
      if (row?.job === 'Completed' && row.certificate === 'Active') break;
      if (performance.now() - started > 30_000) throw new Error(`single issuance of ${id} not finished after 30 s (job ${row?.job}, certificate ${row?.certificate})`);
      await sleep(2);
    }
    latencies.push(round(performance.now() - started, 2));
  }
  return spread(latencies);
}

/** POST /certificates/bulk-renew with `chunk` certificate ids per request, `inFlight` requests at a time. */
async function triggerBulk(
  baseUrl: string, headers: Record<string, string>, agent: Agent, certIds: string[], chunk: number, inFlight: number,
): Promise<Triggered> {
  const result: Triggered = { jobIds: [], latencies: [], rejected: 0, elapsedS: 0 };
  const chunks: string[][] = [];
  for (let i = 0; i < certIds.length; i += chunk) chunks.push(certIds.slice(i, i + chunk));
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < chunks.length && !stopAll.signal.aborted) {
      const ids = chunks[next++]!;
      try {
        const res = await httpJson('POST', baseUrl, '/api/v1/certificates/bulk-renew', headers, { certificate_ids: ids }, agent);
        result.latencies.push(res.latencyMs);
        if (res.status !== 200) {
          result.rejected += ids.length;
          result.firstRejection ??= `HTTP ${res.status} ${res.body.slice(0, 300)}`;
          continue;
        }
        const body = JSON.parse(res.body) as { enqueued_jobs: Array<{ job_id: string; job_status: string }>; errors: Array<{ error: string }> };
        const pending = body.enqueued_jobs.filter((j) => j.job_status === 'Pending');
        result.jobIds.push(...pending.map((j) => j.job_id));
        if (pending.length !== ids.length) {
          result.rejected += ids.length - pending.length;
          result.firstRejection ??= `bulk-renew queued ${pending.length} of ${ids.length}: ${res.body.slice(0, 300)}`;
        }
      } catch (err) {
        result.rejected += ids.length;
        result.firstRejection ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  result.elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  return result;
}

const CLIENT_POLL_MS = 50;

/** Polls the jobs every CLIENT_POLL_MS until all are Completed or Failed; returns when (this process's clock) it saw that. */
async function waitAllFinished(db: Client, jobIds: string[], deadline: number, orchestrator: OrchestratorProcess): Promise<bigint> {
  for (;;) {
    const { rows } = await db.query<{ open: string }>(`SELECT count(*) AS open FROM jobs WHERE id = ANY($1) AND status NOT IN ('Completed', 'Failed')`, [jobIds]);
    if (Number(rows[0]!.open) === 0) return process.hrtime.bigint();
    if (stopAll.signal.aborted) throw new Error('interrupted');
    if (!orchestrator.running) throw new Error(`orchestrator exited during the run:\n${orchestrator.output()}`);
    if (Date.now() > deadline) throw new Error(`${rows[0]!.open} jobs not finished in time\n${orchestrator.output()}`);
    await sleep(CLIENT_POLL_MS);
  }
}

/**
 * Every issued certificate of the run through `openssl verify -purpose sslserver`, against the Local CA's root as
 * the only trust anchor (the chains' other certificates as untrusted intermediates), in batches of files.
 */
async function opensslVerify(db: Client, jobIds: string[]): Promise<RunResult['openssl_verify']> {
  const { rows } = await db.query<{ pem_chain: string; root: string }>(
    `SELECT v.pem_chain, a.certificate_pem AS root FROM certificate_versions v
       JOIN managed_certificates c ON c.id = v.certificate_id JOIN issuer_authorities a ON a.issuer_id = c.issuer_id
      WHERE v.job_id = ANY($1)`,
    [jobIds],
  );
  const dir = mkdtempSync(join(tmpdir(), 'bench-issue-verify-'));
  try {
    const roots = new Set(rows.map((r) => r.root.trim()));
    const intermediates = new Set<string>();
    const files = rows.map((row, i) => {
      const [leaf, ...rest] = splitPemChain(row.pem_chain);
      for (const pem of rest) if (!roots.has(pem.trim())) intermediates.add(pem.trim());
      const file = join(dir, `${i}.pem`);
      writeFileSync(file, `${leaf!.trim()}\n`);
      return file;
    });
    writeFileSync(join(dir, 'roots.pem'), `${[...roots].join('\n')}\n`);
    const args = ['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'roots.pem')];
    if (intermediates.size) {
      writeFileSync(join(dir, 'untrusted.pem'), `${[...intermediates].join('\n')}\n`);
      args.push('-untrusted', join(dir, 'untrusted.pem'));
    }
    let accepted = 0;
    let firstRefusal: string | undefined;
    for (let i = 0; i < files.length; i += 500) {
      const batch = files.slice(i, i + 500);
      // openssl verify exits non-zero when any file fails; its output still names each file.
      const out = await execFileAsync('openssl', [...args, ...batch], { maxBuffer: 64 * 1024 * 1024 })
        .then(({ stdout, stderr }) => `${stdout}${stderr}`, (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`);
      for (const file of batch) {
        if (out.includes(`${file}: OK`)) accepted++;
        else firstRefusal ??= out.split('\n').filter((line) => line.includes(file)).join(' ').slice(0, 300) || out.slice(0, 300);
      }
    }
    return { certificates: rows.length, accepted, ...(firstRefusal ? { first_refusal: firstRefusal } : {}) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitFinished(db: Client, jobIds: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ open: string; failed: string; error: string | null }>(
      `SELECT count(*) FILTER (WHERE status NOT IN ('Completed', 'Failed')) AS open, count(*) FILTER (WHERE status = 'Failed') AS failed,
              max(last_error) AS error
         FROM jobs WHERE id = ANY($1)`,
      [jobIds],
    );
    const row = rows[0]!;
    if (Number(row.failed) > 0) throw new Error(`${row.failed} warm-up issuances failed: ${row.error ?? ''}`);
    if (Number(row.open) === 0) return;
    if (Date.now() > deadline) throw new Error(`warm-up not finished after ${timeoutMs} ms (${row.open} open)`);
    await sleep(250);
  }
}

interface CpuReading {
  atNs: bigint;
  api: number | undefined;
  apiMain: number | undefined;
  orchestrator: number | undefined;
  orchestratorMain: number | undefined;
  postgres: Map<number, number>;
  redis: Map<number, number>;
  bench: NodeJS.CpuUsage;
  machine: { busy: number; total: number } | undefined;
}

interface Window {
  start: CpuReading;
  end: CpuReading;
  pgBefore: PgCounters;
  pgAfter: PgCounters;
  tablesBefore: TableStats;
  tablesAfter: TableStats;
  redisBefore: number;
  redisAfter: number;
  metricsBefore: { api: PromSample[]; orchestrator: PromSample[] };
  metricsAfter: { api: PromSample[]; orchestrator: PromSample[] };
  /** What the sampler's own queries added to the database counters. */
  samplerTicks: number;
  samplerRowsCounted: number;
  timeline: TimelinePoint[];
}

type TableStats = Map<string, { idx_scan: number; seq_scan: number; ins: number; upd: number }>;

async function tableStats(db: Client): Promise<TableStats> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await db.query<{ relname: string; idx_scan: string; seq_scan: string; ins: string; upd: string }>(
    'SELECT relname, COALESCE(idx_scan, 0) AS idx_scan, seq_scan, n_tup_ins AS ins, n_tup_upd AS upd FROM pg_stat_user_tables',
  );
  return new Map(rows.map((r) => [r.relname, { idx_scan: Number(r.idx_scan), seq_scan: Number(r.seq_scan), ins: Number(r.ins), upd: Number(r.upd) }]));
}

/** Once a second: the measured jobs by status, and where the CPU went since the previous sample. */
class Sampler {
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  private readonly timeline: TimelinePoint[] = [];
  private first: CpuReading | undefined;
  private prev: CpuReading | undefined;
  private pgBefore: PgCounters | undefined;
  private redisBefore = NaN;
  private counts = { pending: 0, running: 0, completed: 0, failed: 0, other: 0 };
  private stopped: Window | undefined;
  private pgPids: number[] = [];
  private tablesBefore: TableStats | undefined;
  private metricsBefore: Window['metricsBefore'] = { api: [], orchestrator: [] };
  private rowsCounted = 0;
  private readonly apiPid: number | undefined;
  private readonly orchestratorPid: number | undefined;

  constructor(
    private readonly db: Client,
    private readonly redis: Redis,
    private readonly since: Date,
    private readonly api: ApiProcess,
    private readonly orchestrator: OrchestratorProcess,
  ) {
    this.apiPid = api.pid;
    this.orchestratorPid = orchestrator.pid;
  }

  async start(): Promise<void> {
    this.pgPids = await benchBackendPids(this.db);
    this.pgBefore = await pgCounters(this.db);
    this.tablesBefore = await tableStats(this.db);
    this.redisBefore = await redisCommandsProcessed(this.redis);
    // Resets the processes' event-loop delay histograms, so the closing scrape covers the measured window.
    const [api, orchestrator] = await Promise.all([scrape(this.api.baseUrl), scrape(this.orchestrator.baseUrl)]);
    this.metricsBefore = { api, orchestrator };
    this.first = this.read();
    this.prev = this.first;
    this.timer = setInterval(() => {
      this.busy = this.busy.then(() => this.sample()).catch((err: unknown) => progress(`sampler: ${(err as Error).message}`));
    }, 1_000);
  }

  finished(expected: number): boolean {
    return this.counts.completed + this.counts.failed >= expected && this.timeline.length > 0;
  }

  last(): TimelinePoint | undefined {
    return this.timeline[this.timeline.length - 1];
  }

  lastSampleNs(): bigint {
    return (this.prev ?? this.read()).atNs;
  }

  async stop(): Promise<Window> {
    if (this.stopped) return this.stopped;
    clearInterval(this.timer);
    await this.busy;
    const end = this.prev ?? this.read();
    const [api, orchestrator] = await Promise.all([scrape(this.api.baseUrl), scrape(this.orchestrator.baseUrl)]);
    const redisAfter = await redisCommandsProcessed(this.redis);
    // Backends report their statistics at most about once a second: let the last ones arrive.
    await sleep(1_500);
    this.stopped = {
      start: this.first!, end, pgBefore: this.pgBefore!, pgAfter: await pgCounters(this.db), tablesBefore: this.tablesBefore!,
      tablesAfter: await tableStats(this.db), redisBefore: this.redisBefore, redisAfter, metricsBefore: this.metricsBefore,
      metricsAfter: { api, orchestrator }, samplerTicks: this.timeline.length, samplerRowsCounted: this.rowsCounted, timeline: this.timeline,
    };
    return this.stopped;
  }

  private read(): CpuReading {
    return {
      atNs: process.hrtime.bigint(),
      api: this.apiPid ? ticksOf([this.apiPid]).get(this.apiPid) : undefined,
      apiMain: this.apiPid ? threadTicks(this.apiPid, this.apiPid) : undefined,
      orchestrator: this.orchestratorPid ? ticksOf([this.orchestratorPid]).get(this.orchestratorPid) : undefined,
      orchestratorMain: this.orchestratorPid ? threadTicks(this.orchestratorPid, this.orchestratorPid) : undefined,
      postgres: ticksOf(this.pgPids),
      redis: ticksOf(pidsByComm('redis-server')),
      bench: process.cpuUsage(),
      machine: machineTicks(),
    };
  }

  private async sample(): Promise<void> {
    // Backends opened since the last sample (pools grow on demand) count from their first reading.
    const pids = await benchBackendPids(this.db);
    for (const pid of pids) if (!this.pgPids.includes(pid)) this.pgPids.push(pid);
    const { rows } = await this.db.query<{ status: string; n: string }>(
      `SELECT status, count(*) AS n FROM jobs WHERE type IN ('Issuance', 'Renewal') AND created_at >= $1 GROUP BY status`,
      [this.since],
    );
    const counts = { pending: 0, running: 0, completed: 0, failed: 0, other: 0 };
    for (const row of rows) {
      const n = Number(row.n);
      this.rowsCounted += n;
      if (row.status === 'Pending') counts.pending += n;
      else if (row.status === 'Running') counts.running += n;
      else if (row.status === 'Completed') counts.completed += n;
      else if (row.status === 'Failed') counts.failed += n;
      else counts.other += n;
    }
    const now = this.read();
    const cpu = cpuPct(this.prev!, now);
    this.timeline.push({ t_s: round(Number(now.atNs - this.first!.atNs) / 1e9, 1), ...counts, cpu_pct: cpu });
    this.counts = counts;
    this.prev = now;
  }
}

function cpuPct(a: CpuReading, b: CpuReading): TimelinePoint['cpu_pct'] {
  const wallTicks = (Number(b.atNs - a.atNs) / 1e9) * TICKS_PER_S;
  const pct = (ticks: number) => Math.round((ticks / wallTicks) * 100);
  const benchMs = (b.bench.user - a.bench.user + b.bench.system - a.bench.system) / 1000;
  let machine: number | null = null;
  if (a.machine && b.machine && b.machine.total > a.machine.total) {
    machine = Math.round(((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * 100 * cpus().length);
  }
  return {
    api: a.api !== undefined && b.api !== undefined ? pct(b.api - a.api) : null,
    orchestrator: a.orchestrator !== undefined && b.orchestrator !== undefined ? pct(b.orchestrator - a.orchestrator) : null,
    orchestrator_main_thread: a.orchestratorMain !== undefined && b.orchestratorMain !== undefined ? pct(b.orchestratorMain - a.orchestratorMain) : null,
    postgres: pct(ticksBetween(a.postgres, b.postgres)),
    redis: b.redis.size ? pct(ticksBetween(a.redis, b.redis)) : null,
    bench: Math.round((benchMs / (Number(b.atNs - a.atNs) / 1e6)) * 100),
    machine,
  };
}

interface JobRow {
  id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  created_ms: string;
  started_ms: string | null;
  completed_ms: string | null;
  version_ms: string | null;
}

async function collect(
  db: Client, certificates: number, concurrency: number, trigger: RunResult['trigger'], orchestratorPool: number, apiPool: number,
  triggered: Triggered, window: Window, wallS: number, pgActivity: ActivityProfile,
): Promise<Omit<RunResult, 'client_clock' | 'openssl_verify' | 'single_certificate_ms'>> {
  const { rows } = await db.query<JobRow>(
    `SELECT j.id, j.status, j.attempts, j.last_error,
            extract(epoch FROM j.created_at) * 1000 AS created_ms, extract(epoch FROM j.started_at) * 1000 AS started_ms,
            extract(epoch FROM j.completed_at) * 1000 AS completed_ms, extract(epoch FROM v.created_at) * 1000 AS version_ms
       FROM jobs j LEFT JOIN certificate_versions v ON v.job_id = j.id
      WHERE j.id = ANY($1)`,
    [triggered.jobIds],
  );
  const done = rows.filter((r) => r.status === 'Completed' && r.completed_ms !== null);
  const failed = rows.filter((r) => r.status === 'Failed');
  const firstCreated = Math.min(...rows.map((r) => Number(r.created_ms)));
  const lastCompleted = Math.max(...done.map((r) => Number(r.completed_ms)));
  const windowS = (lastCompleted - firstCreated) / 1000;
  const stage = (from: (r: JobRow) => string | null, to: (r: JobRow) => string | null) =>
    summarize(done.filter((r) => from(r) !== null && to(r) !== null).map((r) => Number(to(r)) - Number(from(r))));

  const checks = await versionChecks(db, triggered.jobIds);
  const n = done.length || 1;
  const cpuWindowS = Number(window.end.atNs - window.start.atNs) / 1e9;
  const share = (ticks: number | null): CpuShare =>
    ticks === null
      ? { pct: null, cpu_ms_per_certificate: null }
      : { pct: Math.round((ticks / TICKS_PER_S / cpuWindowS) * 100), cpu_ms_per_certificate: round(((ticks / TICKS_PER_S) * 1000) / n, 2) };
  const { start, end } = window;
  const apiTicks = start.api !== undefined && end.api !== undefined ? end.api - start.api : null;
  const orchTicks = start.orchestrator !== undefined && end.orchestrator !== undefined ? end.orchestrator - start.orchestrator : null;
  const apiMainTicks = start.apiMain !== undefined && end.apiMain !== undefined ? end.apiMain - start.apiMain : null;
  const orchMainTicks = start.orchestratorMain !== undefined && end.orchestratorMain !== undefined ? end.orchestratorMain - start.orchestratorMain : null;
  const pgTicks = ticksBetween(start.postgres, end.postgres);
  const redisTicks = end.redis.size ? ticksBetween(start.redis, end.redis) : null;
  const benchTicks = ((end.bench.user - start.bench.user + end.bench.system - start.bench.system) / 1e6) * TICKS_PER_S;
  let machine: number | null = null;
  if (start.machine && end.machine && end.machine.total > start.machine.total) {
    machine = Math.round(((end.machine.busy - start.machine.busy) / (end.machine.total - start.machine.total)) * 100 * cpus().length);
  }
  const ours = [apiTicks, orchTicks, pgTicks, redisTicks, benchTicks].reduce<number>((a, t) => a + (t ?? 0), 0);
  const oursPct = (ours / TICKS_PER_S / cpuWindowS) * 100;
  const pipelineTicks = apiTicks !== null && orchTicks !== null ? apiTicks + orchTicks + pgTicks + (redisTicks ?? 0) : null;
  const pipelineMs = pipelineTicks === null ? null : ((pipelineTicks / TICKS_PER_S) * 1000) / n;
  const tables: RunResult['pg_tables_per_certificate'] = {};
  for (const [name, after] of window.tablesAfter) {
    const before = window.tablesBefore.get(name) ?? { idx_scan: 0, seq_scan: 0, ins: 0, upd: 0 };
    const samplerScans = name === 'jobs' ? window.samplerTicks : 0;
    const d = { idx_scan: after.idx_scan - before.idx_scan - samplerScans, seq_scan: after.seq_scan - before.seq_scan, ins: after.ins - before.ins, upd: after.upd - before.upd };
    if (d.idx_scan || d.seq_scan || d.ins || d.upd) {
      tables[name] = { idx_scan: round(d.idx_scan / n, 2), seq_scan: round(d.seq_scan / n, 2), ins: round(d.ins / n, 2), upd: round(d.upd / n, 2) };
    }
  }
  const issuanceLabels = { queue: 'issuance', name: 'certificate.issue' };

  return {
    renewal_concurrency: concurrency,
    trigger,
    orchestrator_db_pool: orchestratorPool,
    api_db_pool: apiPool,
    certificates,
    accepted: triggered.jobIds.length,
    rejected: triggered.rejected,
    ...(triggered.firstRejection ? { first_rejection: triggered.firstRejection } : {}),
    completed: done.length,
    failed: failed.length,
    ...(failed[0] ? { first_failure: failed[0].last_error ?? 'unknown' } : {}),
    versions_stored: rows.filter((r) => r.version_ms !== null).length,
    window_s: round(windowS, 3),
    certs_per_s: round(done.length / windowS, 1),
    wall_certs_per_s: round(done.length / wallS, 1),
    latency_ms: summarize(done.map((r) => Number(r.completed_ms) - Number(r.created_ms))),
    stages_ms: {
      queue_wait: stage((r) => r.created_ms, (r) => r.started_ms),
      work_until_version_insert: stage((r) => r.started_ms, (r) => r.version_ms),
      completing_transaction: stage((r) => r.version_ms, (r) => r.completed_ms),
    },
    attempts_over_1: rows.filter((r) => r.attempts > 1).length,
    api_trigger: {
      requests: triggered.latencies.length,
      latency_ms: summarize(triggered.latencies),
      trigger_phase_s: round(triggered.elapsedS, 3),
      certificates_per_s: round(triggered.jobIds.length / triggered.elapsedS, 1),
    },
    cpu: {
      window_s: round(cpuWindowS, 1),
      api: share(apiTicks),
      api_main_thread: share(apiMainTicks),
      orchestrator: share(orchTicks),
      orchestrator_main_thread: share(orchMainTicks),
      postgres_bench_backends: share(pgTicks),
      redis: share(redisTicks),
      bench_process: share(benchTicks),
      machine_busy_pct: machine,
      other_pct: machine === null ? null : Math.max(0, Math.round(machine - oursPct)),
      pipeline_cpu_ms_per_certificate: pipelineMs === null ? null : round(pipelineMs, 2),
      cpu_bound_ceiling_certs_per_s: pipelineMs === null ? null : Math.round((cpus().length * 1000) / pipelineMs),
    },
    process_metrics: {
      orchestrator_issuance_job_ms: histogramDelta(window.metricsBefore.orchestrator, window.metricsAfter.orchestrator, 'certctl_job_duration_seconds', issuanceLabels),
      orchestrator_event_loop_lag: eventLoopLag(window.metricsAfter.orchestrator),
      api_event_loop_lag: eventLoopLag(window.metricsAfter.api),
    },
    per_certificate: {
      // The sampler's two autocommit queries per tick, and the rows its count query reads, are taken out.
      pg_transactions: round((window.pgAfter.xact_commit - window.pgBefore.xact_commit - 2 * window.samplerTicks) / n, 1),
      pg_rows_inserted: round((window.pgAfter.tup_inserted - window.pgBefore.tup_inserted) / n, 1),
      pg_rows_updated: round((window.pgAfter.tup_updated - window.pgBefore.tup_updated) / n, 1),
      pg_rows_fetched: round((window.pgAfter.tup_fetched - window.pgBefore.tup_fetched - window.samplerRowsCounted) / n, 1),
      redis_commands_server_wide: round((window.redisAfter - window.redisBefore) / n, 1),
    },
    pg_activity: pgActivity,
    pg_tables_per_certificate: tables,
    checks,
    timeline: window.timeline,
  };
}

/** The stored versions are what was asked for: ECDSA 256 keys kept encrypted, unique, chained to the CA root. */
async function versionChecks(db: Client, jobIds: string[]): Promise<RunResult['checks']> {
  const { rows } = await db.query<{ alg: string; n: string; encrypted: string; fingerprints: string }>(
    `SELECT key_algorithm || ' ' || key_size AS alg, count(*) AS n, count(encrypted_private_key) AS encrypted,
            count(DISTINCT fingerprint_sha256) AS fingerprints
       FROM certificate_versions WHERE job_id = ANY($1) GROUP BY 1`,
    [jobIds],
  );
  const sample = await db.query<{ pem_chain: string; root: string }>(
    `SELECT v.pem_chain, a.certificate_pem AS root FROM certificate_versions v
       JOIN managed_certificates c ON c.id = v.certificate_id JOIN issuer_authorities a ON a.issuer_id = c.issuer_id
      WHERE v.job_id = ANY($1) ORDER BY v.created_at DESC LIMIT 1`,
    [jobIds],
  );
  const perJob = await db.query<{ versions: string; jobs: string }>(
    'SELECT count(*) AS versions, count(DISTINCT job_id) AS jobs FROM certificate_versions WHERE job_id = ANY($1)', [jobIds],
  );
  let chainVerifies = false;
  const s = sample.rows[0];
  if (s) {
    const [leaf, ...rest] = splitPemChain(s.pem_chain);
    chainVerifies = await verifyChain(leaf!, rest.slice(0, -1), [s.root]).then(() => true, () => false);
  }
  return {
    chain_verifies: chainVerifies,
    one_version_per_job: Number(perJob.rows[0]!.versions) === jobIds.length && Number(perJob.rows[0]!.jobs) === jobIds.length,
    key_algorithms: Object.fromEntries(rows.map((r) => [r.alg, Number(r.n)])),
    keys_encrypted: rows.reduce((a, r) => a + Number(r.encrypted), 0),
    distinct_fingerprints: rows.reduce((a, r) => a + Number(r.fingerprints), 0),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// EXPLAIN ANALYZE of the statements each issuance runs (on the last run's database)

async function explainHotStatements(adminUrl: string): Promise<Array<{ statement: string; plan: string[]; execution_ms: number | null }>> {
  return withClient(withDatabase(adminUrl, DATABASE), async (db) => {
    const pick = await db.query<{ job_id: string; certificate_id: string }>(
      `SELECT id AS job_id, certificate_id FROM jobs WHERE type IN ('Issuance', 'Renewal') AND status = 'Completed' ORDER BY created_at DESC LIMIT 1`,
    );
    const row = pick.rows[0];
    if (!row) return [];
    const statements: Array<{ statement: string; sql: string; params: unknown[] }> = [
      { statement: 'renew: lock the certificate', sql: 'SELECT * FROM managed_certificates WHERE id = $1 FOR UPDATE', params: [row.certificate_id] },
      {
        statement: 'renew: open issuance jobs of the certificate',
        sql: `SELECT * FROM jobs WHERE certificate_id = $1 AND type IN ('Issuance', 'Renewal') AND status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running')`,
        params: [row.certificate_id],
      },
      { statement: 'renew: has a version', sql: 'SELECT 1 FROM certificate_versions WHERE certificate_id = $1 LIMIT 1', params: [row.certificate_id] },
      {
        statement: 'bulk-renew: lock the matching certificates (certificate_ids criterion)',
        sql: `SELECT c.id FROM managed_certificates c LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
               WHERE c.id = ANY($1::text[]) ORDER BY c.id LIMIT 5001 FOR UPDATE OF c`,
        params: [[row.certificate_id]],
      },
      {
        statement: 'orchestrator: claim the jobs (and read certificate, profile, issuer, targets, routing)',
        sql: `WITH claimed AS (
                UPDATE jobs SET status = 'Running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()
                 WHERE id = ANY($1::text[]) AND type IN ('Issuance', 'Renewal') AND (status IN ('Pending', 'Running')) IS TRUE
                   AND NOT EXISTS (SELECT 1 FROM certificate_versions v WHERE v.job_id = jobs.id)
                 RETURNING id, type, certificate_id, attempts, max_attempts, csr_pem
              )
              SELECT j.*, c.common_name, c.sans, c.issuer_id, i.updated_at AS issuer_updated_at, c.name, o.email, p.alert_channels,
                     (SELECT json_agg(t.id) FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
                       WHERE m.certificate_id = j.certificate_id AND t.enabled AND t.retired_at IS NULL) AS targets,
                     pr.id AS profile_id
                FROM claimed j JOIN managed_certificates c ON c.id = j.certificate_id
                LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
                LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)
                LEFT JOIN issuers i ON i.id = c.issuer_id LEFT JOIN owners o ON o.id = c.owner_id`,
        params: [[row.job_id]],
      },
    ];
    const out: Array<{ statement: string; plan: string[]; execution_ms: number | null }> = [];
    for (const s of statements) {
      await db.query('BEGIN');
      try {
        const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${s.sql}`, s.params);
        const plan = rows.map((r) => r['QUERY PLAN']);
        const exec = plan.map((l) => /Execution Time: ([\d.]+) ms/.exec(l)).find(Boolean);
        out.push({ statement: s.statement, plan, execution_ms: exec ? Number(exec[1]) : null });
      } finally {
        await db.query('ROLLBACK');
      }
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Bare libs/pki rate, in this process

async function bareRates(config: BenchConfig): Promise<{ rates: BareResult[]; steps: BareStep[] }> {
  const caKeys = await generateKeyPair(CA_SPEC);
  const caPem = await createCaCertificate({ keys: caKeys, keySpec: CA_SPEC, commonName: 'bench bare CA', validityDays: 3650 });
  const ca: SigningAuthority = { certificate: new x509.X509Certificate(caPem), privateKey: caKeys.privateKey, keySpec: CA_SPEC };
  const secret = randomBytes(32).toString('base64url');
  const validity = () => ({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * 86_400_000) });

  // What the Local CA path does per server-keygen job: a node:crypto key pair, and the leaf built and signed for it.
  const keySign = async (i: number) => {
    const name = `svc-${i}.bare.example`;
    const keys = await generateKeyObjects(LEAF_SPEC);
    issueLeafCertificate(ca, { publicKey: keys.publicKey, commonName: name, sans: [name, `alt-${i}.bare.example`], ...validity(), ekus: ['serverAuth'] });
  };
  // The orchestrator's whole crypto per job (issuance.service.ts + local-ca.connector.ts), without I/O: key_sign plus
  // the private key exported (PKCS#8) and encrypted for storage.
  const fullPath = async (i: number) => {
    const name = `svc-${i}.bare.example`;
    const keys = await generateKeyObjects(LEAF_SPEC);
    encryptSecret(privateKeyPemOf(keys.privateKey), secret);
    issueLeafCertificate(ca, { publicKey: keys.publicKey, commonName: name, sans: [name, `alt-${i}.bare.example`], ...validity(), ekus: ['serverAuth'] });
  };
  // The CSR path (agent CSRs; server keygen for issuers that want a CSR, i.e. ACME), for comparison.
  const csrPath = async (i: number) => {
    const name = `svc-${i}.bare.example`;
    const sans = [name, `alt-${i}.bare.example`];
    const keys = await generateKeyObjects(LEAF_SPEC);
    const csr = await parseCsr(await createCsr({ keys, keySpec: LEAF_SPEC, commonName: name, sans }));
    if (namesMismatch(csr, { commonName: name, sans })) throw new Error('names mismatch');
    describeCertificate(await signLeafCertificate(ca, { publicKey: csr.publicKey, commonName: name, sans, ...validity(), ekus: ['serverAuth'] }));
  };

  const variants = [
    { name: 'key_sign', description: 'generateKeyObjects P-256 + issueLeafCertificate (P-256 CA)', work: keySign, n: config.bareN, inFlight: [1, config.bareConcurrency] },
    {
      name: 'orchestrator_crypto_path',
      description: 'key_sign + privateKeyPemOf/encryptSecret (what a Local CA server-keygen job computes)',
      work: fullPath, n: Math.max(1, Math.round(config.bareN / 4)), inFlight: [config.bareConcurrency],
    },
    {
      name: 'csr_path_comparison',
      description: 'generateKeyObjects + createCsr + parseCsr (verify) + namesMismatch + signLeafCertificate + describeCertificate (agent CSR / ACME path)',
      work: csrPath, n: Math.max(1, Math.round(config.bareN / 4)), inFlight: [config.bareConcurrency],
    },
  ];
  const rates: BareResult[] = [];
  for (const variant of variants) {
    for (const inFlight of variant.inFlight) {
      if (stopAll.signal.aborted) return { rates, steps: [] };
      await runPool(variant.work, 100, inFlight); // warm-up
      const cpuBefore = process.cpuUsage();
      const started = process.hrtime.bigint();
      const latencies = await runPool(variant.work, variant.n, inFlight);
      const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = process.cpuUsage(cpuBefore);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      rates.push({
        name: variant.name, description: variant.description, n: variant.n, in_flight: inFlight, elapsed_s: round(elapsedS, 3),
        certs_per_s: round(variant.n / elapsedS, 1), cpu_ms_per_certificate: round(cpuMs / variant.n, 3),
        cpu_pct: Math.round((cpuMs / (elapsedS * 1000)) * 100), latency_ms: summarize(latencies),
      });
      progress(`bare ${variant.name} × ${variant.n}, ${inFlight} in flight: ${rates[rates.length - 1]!.certs_per_s}/s`);
    }
  }
  return { rates, steps: await bareSteps(ca, Math.max(50, Math.round(config.bareN / 8))) };
}

/** Wall time per call of each step of the orchestrator's crypto path, one at a time (where the per-certificate time goes). */
async function bareSteps(ca: SigningAuthority, n: number): Promise<BareStep[]> {
  const totals = new Map<string, number>();
  const time = async <T>(step: string, work: () => Promise<T> | T): Promise<T> => {
    const t = process.hrtime.bigint();
    const result = await work();
    totals.set(step, (totals.get(step) ?? 0) + Number(process.hrtime.bigint() - t) / 1e6);
    return result;
  };
  const secret = randomBytes(32).toString('base64url');
  const payload = randomBytes(300);
  for (let i = 0; i < n + 20; i++) {
    if (i === 20) totals.clear(); // the first rounds warm up
    const name = `svc-${i}.steps.example`;
    const sans = [name, `alt-${i}.steps.example`];
    const keys = await time('generateKeyObjects P-256', () => generateKeyObjects(LEAF_SPEC));
    await time('privateKeyPemOf + encryptSecret', () => encryptSecret(privateKeyPemOf(keys.privateKey), secret));
    await time('issueLeafCertificate (P-256 CA signature)', () =>
      issueLeafCertificate(ca, { publicKey: keys.publicKey, commonName: name, sans, notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000), ekus: ['serverAuth'] }));
    const csrPem = await time('createCsr (CSR path only)', () => createCsr({ keys, keySpec: LEAF_SPEC, commonName: name, sans }));
    await time('parseCsr incl. signature check (CSR path only)', () => parseCsr(csrPem));
    const leaf = await time('signLeafCertificate (CSR path)', () =>
      signLeafCertificate(ca, { publicKey: keys.publicKey, commonName: name, sans, notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000), ekus: ['serverAuth'] }));
    await time('describeCertificate (CSR path only)', () => describeCertificate(leaf));
    const native = await time('node:crypto generateKeyPairSync P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    await time('node:crypto sign P-256 (sync)', () => nodeSign('sha256', payload, native.privateKey));
  }
  return [...totals].map(([step, ms]) => ({ step, ms_per_call: round(ms / n, 3) }));
}

async function runPool(work: (i: number) => Promise<void>, n: number, inFlight: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const t = process.hrtime.bigint();
        await work(i);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  return latencies;
}

// ---------------------------------------------------------------------------------------------------------------
// Report

async function machineInfo(adminUrl: string, quiet: QuietCheck): Promise<Record<string, unknown>> {
  const cpu = cpus();
  const postgres = await withClient(adminUrl, (db) => db.query<{ server_version: string }>('SHOW server_version'));
  return {
    cpus: cpu.length,
    cpu_model: cpu[0]?.model ?? 'unknown',
    total_memory_gib: round(totalmem() / 1024 ** 3, 1),
    os: `${osType()} ${release()}`,
    node: process.version,
    postgres: postgres.rows[0]?.server_version ?? 'unknown',
    uv_threadpool_size: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    load: { ...quiet, loadavg_at_end: loadavg().map((v) => round(v, 2)) },
  };
}

function formatRuns(runs: RunResult[]): string {
  const header = ['concurrency / trigger', 'done', 'failed', 'certs/s', 'wall/s', 'p50 ms', 'p95 ms', 'p99 ms', 'queue p50', 'work p50', 'commit p50',
    'trigger req p50/p99 ms', 'cpu% api/orch(main)/pg/redis/bench/other', 'orch cpu ms/cert', 'pipeline cpu ms/cert', 'cpu ceiling/s', 'orch loop lag p99', 'pg tx/cert'];
  const rows = runs.map((r) => [
    `${r.renewal_concurrency} ${r.trigger.mode === 'bulk-renew' ? `bulk x${r.trigger.certificates_per_request}` : 'renew each'}${r.what_if ? ' what-if: no audit chain' : ''}`, String(r.completed), String(r.failed), r.certs_per_s.toFixed(1), r.wall_certs_per_s.toFixed(1), r.latency_ms.p50.toFixed(0),
    r.latency_ms.p95.toFixed(0), r.latency_ms.p99.toFixed(0), r.stages_ms.queue_wait.p50.toFixed(0), r.stages_ms.work_until_version_insert.p50.toFixed(0),
    r.stages_ms.completing_transaction.p50.toFixed(0), `${r.api_trigger.latency_ms.p50.toFixed(1)}/${r.api_trigger.latency_ms.p99.toFixed(1)}`,
    [r.cpu.api.pct, `${r.cpu.orchestrator.pct ?? '-'}(${r.cpu.orchestrator_main_thread.pct ?? '-'})`, r.cpu.postgres_bench_backends.pct, r.cpu.redis.pct,
      r.cpu.bench_process.pct, r.cpu.other_pct].map((v) => v ?? '-').join('/'),
    [r.cpu.api.cpu_ms_per_certificate, r.cpu.orchestrator.cpu_ms_per_certificate, r.cpu.postgres_bench_backends.cpu_ms_per_certificate].map((v) => v ?? '-').join('/'),
    String(r.cpu.pipeline_cpu_ms_per_certificate ?? '-'),
    String(r.cpu.cpu_bound_ceiling_certs_per_s ?? '-'), String(r.process_metrics.orchestrator_event_loop_lag.p99_ms ?? '-'),
    String(r.per_certificate.pg_transactions),
  ]);
  return table(header, rows);
}

function formatBare(bare: BareResult[]): string {
  const header = ['bare libs/pki', 'n', 'in flight', 'certs/s', 'cpu ms/cert', 'cpu%', 'p50 ms', 'p99 ms'];
  const rows = bare.map((b) => [b.name, String(b.n), String(b.in_flight), b.certs_per_s.toFixed(1), b.cpu_ms_per_certificate.toFixed(3),
    String(b.cpu_pct), b.latency_ms.p50.toFixed(2), b.latency_ms.p99.toFixed(2)]);
  return table(header, rows);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function writeResults(report: Record<string, unknown>): void {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
}

/** One contender's result in a round: an end-to-end run, or the bare signer in this process. */
type RoundRun = { run: RunResult } | { bare: BareResult };
const roundRate = (r: RoundRun) => ('run' in r ? r.run.client_clock.certs_per_s : r.bare.certs_per_s);

let bareCa: SigningAuthority | undefined;

/** The bare signer (generateKeyObjects + issueLeafCertificate, what the Local CA does per job) in this process, BENCH_BARE_N of them. */
async function bareKeySign(config: BenchConfig): Promise<BareResult> {
  if (!bareCa) {
    const caKeys = await generateKeyPair(CA_SPEC);
    const caPem = await createCaCertificate({ keys: caKeys, keySpec: CA_SPEC, commonName: 'bench bare CA', validityDays: 3650 });
    bareCa = { certificate: new x509.X509Certificate(caPem), privateKey: caKeys.privateKey, keySpec: CA_SPEC };
  }
  const ca = bareCa;
  const keySign = async (i: number) => {
    const name = `svc-${i}.bare.example`;
    const keys = await generateKeyObjects(LEAF_SPEC);
    issueLeafCertificate(ca, {
      publicKey: keys.publicKey, commonName: name, sans: [name, `alt-${i}.bare.example`], notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 90 * 86_400_000), ekus: ['serverAuth'],
    });
  };
  await runPool(keySign, 50, config.bareConcurrency); // warm-up
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const latencies = await runPool(keySign, config.bareN, config.bareConcurrency);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    name: 'key_sign', description: 'generateKeyObjects P-256 + issueLeafCertificate (P-256 CA)', n: config.bareN, in_flight: config.bareConcurrency,
    elapsed_s: round(elapsedS, 3), certs_per_s: round(config.bareN / elapsedS, 1), cpu_ms_per_certificate: round(cpuMs / config.bareN, 3),
    cpu_pct: Math.round((cpuMs / (elapsedS * 1000)) * 100), latency_ms: summarize(latencies),
  };
}

/** Without the per-round sampling series, to keep the results file readable. */
function roundForFile(record: RoundRecord<RoundRun>): Record<string, unknown> {
  return { ...record, results: Object.fromEntries(Object.entries(record.results).map(([k, v]) => [k, 'run' in v ? { ...v.run, timeline: `${v.run.timeline.length} points` } : v.bare])) };
}

async function main(): Promise<void> {
  const config = readConfig();
  const startedAt = new Date();
  progress(`checking machine load (threshold ${config.maxBusyPct}%, 100 = one core)…${config.quick ? ' BENCH_QUICK=1: figures are not results' : ''}`);
  const quiet = await waitForQuiet(config);
  progress(`machine ${quiet.busy_pct_at_start ?? '?'}% busy before start, load average ${quiet.loadavg_at_start.join(' ')}`);

  // The headline: end to end at the shipped concurrency and the bare signer, interleaved (order rotated each round).
  const headlineConcurrency = config.concurrencies[0]!;
  const rounds = await interleave<RoundRun>([
    { name: 'end_to_end', run: async () => ({ run: await runEndToEnd(config, headlineConcurrency, config.certificates, 'bulk-renew') }) },
    { name: 'bare_key_sign', run: async () => ({ bare: await bareKeySign(config) }) },
  ], config.rounds, { signal: stopAll.signal, progress });
  if (stopAll.signal.aborted) return;
  const headlineRuns = rounds.map((r) => r.results.end_to_end).filter((r): r is { run: RunResult } => r !== undefined && 'run' in r).map((r) => r.run);
  for (const run of headlineRuns) {
    progress(`end to end: ${run.completed} issued, ${run.failed} failed, ${run.client_clock.certs_per_s}/s by the client's clock (database window ${run.certs_per_s}/s; ` +
      `client cpu ${run.client_clock.client_cpu_pct}%, loop delay p99 ${run.client_clock.client_event_loop_delay_ms.p99} ms), ` +
      `openssl verify accepted ${run.openssl_verify.accepted} of ${run.openssl_verify.certificates}`);
  }

  // The concurrency sweep (smaller runs) after the headline.
  const runs: RunResult[] = [];
  for (const concurrency of config.concurrencies.slice(1)) {
    if (stopAll.signal.aborted) return;
    const run = await runEndToEnd(config, concurrency, config.sweepCertificates, 'bulk-renew');
    runs.push(run);
    progress(`concurrency ${concurrency}: ${run.completed} issued, ${run.failed} failed, ${run.client_clock.certs_per_s}/s (client clock), p50 ${run.latency_ms.p50} ms, p99 ${run.latency_ms.p99} ms`);
  }
  // Secondary: the same issuances asked for one POST /renew at a time (what a client without bulk-renew does).
  let perRequest: RunResult | undefined;
  if (config.perRequest && !stopAll.signal.aborted) {
    perRequest = await runEndToEnd(config, headlineConcurrency, config.certificates, 'renew-per-certificate');
    progress(`one renew per certificate: ${perRequest.completed} issued, ${perRequest.failed} failed, ${perRequest.client_clock.certs_per_s}/s (client clock), p50 ${perRequest.latency_ms.p50} ms, p99 ${perRequest.latency_ms.p99} ms`);
  }
  const whatIfRuns: RunResult[] = [];
  if (config.whatIf && !stopAll.signal.aborted) {
    const run = await runEndToEnd(config, headlineConcurrency, config.sweepCertificates, 'bulk-renew', 'no_audit_chain');
    whatIfRuns.push(run);
    progress(`what-if without the audit chain: ${run.completed} issued, ${run.client_clock.certs_per_s}/s (client clock), p50 ${run.latency_ms.p50} ms, p99 ${run.latency_ms.p99} ms`);
  }
  const explain = await explainHotStatements(config.adminUrl);
  await clearQueueKeys(config.redisUrl);
  // The other bare variants (sequential, the whole crypto path, the CSR path) and the time of each step (full mode).
  const { rates: bare, steps: bareSteps } = config.quick ? { rates: [], steps: [] } : (progress('bare libs/pki variants in this process…'), await bareRates(config));

  const clean = (r: RunResult) =>
    r.failed === 0 && r.rejected === 0 && r.completed === r.certificates && r.checks.one_version_per_job && r.checks.chain_verifies &&
    r.checks.keys_encrypted === r.completed && r.openssl_verify.accepted === r.completed;
  const endToEnd = spreadOf(rounds, roundRate);
  const ratio = ratioOf(rounds, roundRate, 'end_to_end', 'bare_key_sign');
  const fromRuns = (figure: (r: RunResult) => number): Spread => spread(headlineRuns.map(figure));
  const summary = {
    target_certs_per_s: TARGET_CERTS_PER_S,
    headline: {
      certificates: config.certificates, renewal_concurrency: headlineConcurrency, rounds: rounds.length,
      client_clock_certs_per_s: endToEnd.end_to_end, bare_key_sign_certs_per_s: endToEnd.bare_key_sign, ratio_end_to_end_over_bare: ratio,
      single_certificate_ms: fromRuns((r) => r.single_certificate_ms.median),
      database_window_certs_per_s: fromRuns((r) => r.certs_per_s), p50_ms: fromRuns((r) => r.latency_ms.p50), p99_ms: fromRuns((r) => r.latency_ms.p99),
      openssl_verify: { certificates: headlineRuns.reduce((a, r) => a + r.openssl_verify.certificates, 0), accepted: headlineRuns.reduce((a, r) => a + r.openssl_verify.accepted, 0) },
      loadavg_per_round: rounds.map((r) => ({ round: r.round, order: r.order, start: r.loadavg_start, end: r.loadavg_end })),
    },
    secondary_renew_per_certificate: perRequest
      ? { certificates: perRequest.certificates, client_clock_certs_per_s: perRequest.client_clock.certs_per_s, p50_ms: perRequest.latency_ms.p50, p99_ms: perRequest.latency_ms.p99, clean: clean(perRequest) }
      : null,
    pass: (endToEnd.end_to_end?.median ?? 0) >= TARGET_CERTS_PER_S && headlineRuns.length > 0 && headlineRuns.every(clean),
  };
  writeResults({
    timestamp: startedAt.toISOString(),
    quick: config.quick,
    machine: await machineInfo(config.adminUrl, quiet),
    settings: {
      certificates: config.certificates, sweep_certificates: config.sweepCertificates, warmup: config.warmup, rounds: config.rounds,
      trigger: { bulk_renew_chunk: config.bulkChunk, bulk_renew_in_flight: config.bulkInFlight, renew_per_certificate_in_flight: config.triggerConcurrency },
      renewal_concurrencies: config.concurrencies, log_level: 'info (as shipped)',
      keygen: 'server, ECDSA P-256 (default profile)', issuer: 'GenericCA (Local CA, generated P-256 root)', bare_n: config.bareN,
      bare_in_flight: config.bareConcurrency, database: DATABASE, queue_prefix: QUEUE_PREFIX,
      measurement: `headline certs/s = completed / (first trigger request sent → the bench sees the last job finished, polled every ${CLIENT_POLL_MS} ms), ` +
        'interleaved with the bare signer (end_to_end, bare_key_sign, order rotated each round); database_window = completed / (max jobs.completed_at - min jobs.created_at); ' +
        'latency = completed_at - created_at; every issued certificate through openssl verify -purpose sslserver against the Local CA root',
    },
    summary,
    rounds: rounds.map(roundForFile),
    sweep_runs: perRequest ? [...runs, perRequest] : runs,
    diagnostic_runs: whatIfRuns,
    bare_pki: bare,
    bare_pki_steps_ms: bareSteps,
    explain_hot_statements: explain,
  });
  process.stdout.write(`\n${formatRuns([...headlineRuns, ...runs, ...(perRequest ? [perRequest] : []), ...whatIfRuns])}\n\n${bare.length ? `${formatBare(bare)}\n\n` : ''}${bareSteps.map((st) => `  ${st.step.padEnd(42)} ${st.ms_per_call.toFixed(3)} ms`).join('\n')}\n\n`);
  process.stdout.write(
    `${summary.pass ? 'PASS' : 'FAIL'}  end to end ${formatSpread(endToEnd.end_to_end!)} certs/s by the client's clock (${config.certificates} per round at concurrency ${headlineConcurrency}) ` +
      `vs target >= ${TARGET_CERTS_PER_S}/s; bare key+sign ${formatSpread(endToEnd.bare_key_sign!)}/s; ${formatRatio(ratio)}\n` +
      `openssl verify accepted ${summary.headline.openssl_verify.accepted} of ${summary.headline.openssl_verify.certificates} issued certificates\n` +
      `machine ${quiet.busy_pct_at_start ?? '?'}% busy before start (load ${quiet.loadavg_at_start.join(' ')}, at end ${loadAverage().join(' ')})\nwritten: ${RESULTS_FILE}\n`,
  );
}

let exiting: Promise<never> | undefined;

/** Stops the children, deletes the bench queue keys, then exits; the first caller's exit code wins. */
function shutdown(code: number): Promise<never> {
  exiting ??= (async () => {
    stopAll.abort();
    await Promise.all([api?.stop().catch(() => undefined), orchestrator?.stop().catch(() => undefined)]);
    await clearQueueKeys(readConfig().redisUrl).catch(() => undefined);
    process.exit(code);
  })();
  return exiting;
}

process.once('SIGINT', () => {
  progress('interrupted, stopping the api and the orchestrator…');
  void shutdown(130);
});
process.once('SIGTERM', () => void shutdown(143));
process.once('exit', () => {
  api?.killNow();
  orchestrator?.killNow();
});

main().then(
  () => shutdown(0),
  (err: unknown) => {
    if (stopAll.signal.aborted) return;
    process.stderr.write(`[bench:issue] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (api) process.stderr.write(`[bench:issue] last api output:\n${api.output() || '(none)'}\n`);
    if (orchestrator) process.stderr.write(`[bench:issue] last orchestrator output:\n${orchestrator.output() || '(none)'}\n`);
    void shutdown(1);
  },
);
