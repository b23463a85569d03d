/**
 * Agent fleet benchmark: many simulated agents — the real agent code (CertctlAgent, its ApiClient, journal and
 * backoff), many per process — polling one built api, then one real agent process at idle.
 *
 *   npm run bench:agents                         (wrap in `flock /tmp/certctl-bench.lock` on a shared machine)
 *   BENCH_AGENTS=500 BENCH_STEP_S=20 BENCH_RATES=25,50,100,200,400,800 npm run bench:agents   (the defaults)
 *
 * 1. (Re)creates the database `certctl_bench_agents` (CERTCTL_BENCH_DATABASE_URL's server, default
 *    postgres://postgres@127.0.0.1:5432/postgres) with the real migrations, starts `node dist/apps/api/src/main.js`
 *    on a free loopback port (Redis: CERTCTL_BENCH_REDIS_URL, a key prefix of its own) and registers BENCH_AGENTS
 *    agents through POST /api/v1/agents, each with its own API key.
 * 2. For each offered rate of work polls per second (BENCH_RATES), runs every agent in this process with a poll
 *    interval of agents / rate seconds (±10 % jitter, as shipped) and a heartbeat interval of twice that (the
 *    shipped 30 s / 60 s mix), warms up for BENCH_WARMUP_S, then times every GET /agents/{id}/work for
 *    BENCH_STEP_S seconds. Polls find no work (a fleet's steady state). The sustained rate is the highest step whose
 *    work-poll p99 stays under 100 ms with no errors and at least 90 % of the offered rate achieved; the fleet it
 *    supports at the shipped 30 s interval is that rate × 30. Ramping stops at the first step that falls behind
 *    (errors, or less than 90 % of the offered rate). Each step also records the server CPU per poll (api and
 *    PostgreSQL), from which `cpu_bound_estimate` derives what the machine's cores could serve if the api and
 *    PostgreSQL had them to themselves: an estimate, not a measurement.
 * 3. Starts the bundled agent (`dist/agent/certctl-agent.js`, plain node, shipped defaults: poll 30 s, heartbeat
 *    60 s) against the same api, lets it settle, then reads its RSS and CPU time (/proc) over BENCH_IDLE_S (60).
 *
 * The simulated agents, the api and PostgreSQL share the machine's cores: the rates are a lower bound of what a
 * dedicated api host sustains. CPU per step is recorded for the api, this load process and PostgreSQL.
 * Results in bench/results/agents.json.
 *
 * Long-poll mode (BENCH_MODE=long-poll npm run bench:agents; results in bench/results/agents-long-poll.json, or in
 * $TMPDIR for fewer than 10,000 agents): two api processes on one database and Redis; BENCH_LP_AGENTS (10,000)
 * agents with their API keys and one target each inserted in bulk the way the api stores them; the simulated fleet
 * (the agent's ApiClient) spread over BENCH_LP_PROCESSES (4) processes, half the agents on each api, each holding
 * GET /work?wait=BENCH_LP_WAIT_S (25), started over BENCH_LP_RAMP_S. With the fleet held and idle it measures,
 * over BENCH_LP_IDLE_S (30), each api's CPU (the re-polls every wait included), PostgreSQL's, the fleet processes'
 * CPU and event-loop delay, and the api's RSS growth and open files per held request; then BENCH_LP_DELIVERIES
 * times a Deployment job is written for a random agent and announced the way the orchestrator does (row committed,
 * then PUBLISH on the agent-work channel), and the time until that agent's held request returns it is recorded.
 */
import 'reflect-metadata';
import { ChildProcess, fork, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@certctl/testing';
import { CertctlAgent } from '../apps/agent/src/agent';
import type { AgentConfig } from '../apps/agent/src/config';
import { Logger } from '../apps/agent/src/logger';
import type { WorkItem } from '@certctl/contracts';
import { ApiClient } from '../apps/agent/src/modules/protocol/api-client';
import { ApiProcess } from './lib/api-process';
import { freshDatabase } from './lib/bench-dataset';
import { round, summarize } from './lib/http-load';
import type { FleetAgent, FleetCommand, FleetStats } from './lib/long-poll-fleet-worker';
import { machineTicks, pidsByComm, processTicks, TICKS_PER_S, ticksBetween, ticksOf } from './lib/proc-ticks';

const ROOT = resolve(__dirname, '..', '..');
const RESULTS_FILE = resolve(ROOT, 'bench', 'results', 'agents.json');
const AGENT_BUNDLE = resolve(ROOT, 'dist', 'agent', 'certctl-agent.js');
const DATABASE = 'certctl_bench_agents';
const P99_LIMIT_MS = 100;
const SHIPPED_POLL_S = 30;

const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  agents: Number(process.env.BENCH_AGENTS ?? 500),
  rates: (process.env.BENCH_RATES ?? '25,50,100,200,400,800').split(',').map(Number),
  stepS: Number(process.env.BENCH_STEP_S ?? 20),
  warmupS: Number(process.env.BENCH_WARMUP_S ?? 5),
  idleS: Number(process.env.BENCH_IDLE_S ?? 60),
};

/** The agent's own client, timing each work poll (the request the fleet makes most). */
class TimedApiClient extends ApiClient {
  static recording = false;
  static readonly latencies: number[] = [];
  static errors = 0;
  static firstError: string | undefined;

  override async work(options: { resume?: boolean } = {}): Promise<WorkItem[]> {
    const started = process.hrtime.bigint();
    try {
      const items = await super.work(options);
      if (TimedApiClient.recording) TimedApiClient.latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      return items;
    } catch (err) {
      if (TimedApiClient.recording) {
        TimedApiClient.errors += 1;
        TimedApiClient.firstError ??= (err as Error).message;
      }
      throw err;
    }
  }
}

interface Registered {
  id: string;
  key: string;
}

const progress = (msg: string) => process.stderr.write(`[bench:agents] ${msg}\n`);

async function register(baseUrl: string, adminKey: string, count: number): Promise<Registered[]> {
  const out: Registered[] = [];
  const runId = randomBytes(3).toString('hex');
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`${baseUrl}/api/v1/agents`, {
        method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench-agent-${runId}-${i}` }),
      });
      if (res.status !== 201) throw new Error(`registering agent ${i}: HTTP ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { id: string; api_key: string };
      out.push({ id: body.id, key: body.api_key });
    }
  }));
  return out;
}

async function runStep(baseUrl: string, fleet: Registered[], home: string, rate: number, apiPid: number) {
  const intervalMs = Math.round((fleet.length / rate) * 1000);
  const silent = new Logger('error', () => undefined);
  const agents = fleet.map((a, i) => {
    const config: AgentConfig = {
      serverUrl: baseUrl, agentId: a.id, apiKey: a.key, keyDir: join(home, `a${i}`, 'keys'), stateDir: join(home, `a${i}`, 'state'),
      pollIntervalMs: intervalMs, longPollWaitMs: 0, heartbeatIntervalMs: intervalMs * 2, backoffBaseMs: 1000, maxBackoffMs: 300_000,
      requestTimeoutMs: 30_000, commandTimeoutMs: 30_000, discoveryDirs: [], discoveryIntervalMs: 6 * 3_600_000, logLevel: 'error',
    };
    const api = new TimedApiClient({ serverUrl: baseUrl, agentId: a.id, apiKey: a.key, timeoutMs: 30_000 });
    return new CertctlAgent(config, silent, api);
  });
  // Started evenly over one poll interval, as a fleet that came up over time polls: started together, every agent
  // would poll in the same instant each interval (their ±10 % jitter spreads them only slowly), and the step would
  // measure a thundering herd instead of its offered rate.
  const runs = agents.map((agent, i) => sleep((i * intervalMs) / agents.length).then(() => agent.run()));
  await sleep(Math.max(settings.warmupS * 1000, intervalMs) + 1_000); // every agent has started polling
  TimedApiClient.latencies.length = 0;
  TimedApiClient.errors = 0;
  TimedApiClient.firstError = undefined;
  const postgresBefore = ticksOf(pidsByComm('postgres'));
  const apiBefore = processTicks(apiPid) ?? 0;
  const loaderBefore = process.cpuUsage();
  const machineBefore = machineTicks();
  const started = Date.now();
  // This process's own event-loop delay: a poll's latency is measured here, so a stall of the simulated fleet
  // itself shows up as latency; this tells the two apart.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  TimedApiClient.recording = true;
  await sleep(settings.stepS * 1000);
  TimedApiClient.recording = false;
  loopDelay.disable();
  const wallS = (Date.now() - started) / 1000;
  const loader = process.cpuUsage(loaderBefore);
  const machineAfter = machineTicks();
  const cpuPct = (ticks: number) => round((ticks / TICKS_PER_S / wallS) * 100, 1);
  const cpu = {
    api_pct: cpuPct((processTicks(apiPid) ?? 0) - apiBefore),
    postgres_pct: cpuPct(ticksBetween(postgresBefore, ticksOf(pidsByComm('postgres')))),
    agents_process_pct: round(((loader.user + loader.system) / 1e6 / wallS) * 100, 1),
    machine_busy_pct: machineBefore && machineAfter
      ? round(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100 * cpus().length, 1) : null,
  };
  for (const agent of agents) agent.stop();
  await Promise.all(runs);
  const polls = TimedApiClient.latencies.length;
  const latency = summarize(TimedApiClient.latencies);
  const achieved = round(polls / wallS, 1);
  const keptUp = TimedApiClient.errors === 0 && achieved >= rate * 0.9;
  const pass = keptUp && latency.p99 < P99_LIMIT_MS;
  // Server CPU per work poll (its share of the heartbeats, one per two polls, included).
  const perPoll = (pct: number) => (polls ? round((pct / 100) * wallS * 1000 / polls, 2) : null);
  return {
    offered_polls_per_s: rate, poll_interval_ms: intervalMs, achieved_polls_per_s: achieved, polls, errors: TimedApiClient.errors,
    first_error: TimedApiClient.firstError ?? null, work_poll_latency_ms: latency,
    agents_process_event_loop_delay_ms: { p50: round(loopDelay.percentile(50) / 1e6, 1), p99: round(loopDelay.percentile(99) / 1e6, 1), max: round(loopDelay.max / 1e6, 1) },
    cpu,
    cpu_ms_per_poll: { api: perPoll(cpu.api_pct), postgres: perPoll(cpu.postgres_pct), agents_process: perPoll(cpu.agents_process_pct) },
    kept_up: keptUp, pass,
  };
}

/** RSS (max and median over 1 s samples) and CPU share of a process over `seconds`, after `settleS`. */
async function sampleProcess(pid: number, settleS: number, seconds: number) {
  await sleep(settleS * 1000);
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  const ticksBefore = processTicks(pid) ?? 0;
  const samples: number[] = [];
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    samples.push(rss());
    await sleep(1000);
  }
  const wallS = (Date.now() - started) / 1000;
  const cpuS = ((processTicks(pid) ?? 0) - ticksBefore) / TICKS_PER_S;
  samples.sort((a, b) => a - b);
  return {
    window_s: round(wallS, 1), rss_mib_max: round(samples.at(-1)! / 1024 ** 2, 1), rss_mib_median: round(samples[Math.floor(samples.length / 2)]! / 1024 ** 2, 1),
    cpu_seconds: round(cpuS, 2), cpu_pct: round((cpuS / wallS) * 100, 3),
  };
}

/**
 * The smallest Node process that does what an idle agent does (a keep-alive HTTP GET every 30 s): the floor under
 * any agent written for this runtime, measured here so the agent's figure can be read against it.
 */
const NODE_FLOOR_SCRIPT = `const http = require('node:http'); require('node:fs'); require('node:crypto'); require('node:os');
const agent = new http.Agent({ keepAlive: true });
const poll = () => http.get(process.argv[1] + '/health', { agent }, (r) => r.resume()).on('error', () => {});
poll(); setInterval(poll, 30000);`;

/** RSS and CPU of the bundled agent at idle with the shipped intervals, and of the Node floor beside it. */
async function idleAgent(baseUrl: string, agent: Registered, home: string) {
  const child = spawn(process.execPath, [AGENT_BUNDLE], {
    env: {
      PATH: process.env.PATH ?? '', CERTCTL_SERVER_URL: baseUrl, CERTCTL_AGENT_ID: agent.id, CERTCTL_API_KEY: agent.key,
      CERTCTL_KEY_DIR: join(home, 'idle', 'keys'), CERTCTL_AGENT_STATE_DIR: join(home, 'idle', 'state'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const floor = spawn(process.execPath, ['-e', NODE_FLOOR_SCRIPT, baseUrl], { stdio: 'ignore' });
  try {
    const [measured, reference] = await Promise.all([sampleProcess(child.pid!, 10, settings.idleS), sampleProcess(floor.pid!, 10, settings.idleS)]);
    return {
      ...measured,
      targets: { rss_mib_max: 40, cpu_pct: 0.1 },
      pass: measured.rss_mib_max <= 40 && measured.cpu_pct <= 0.1,
      node_floor: { ...reference, what: 'node -e: a keep-alive HTTP GET every 30 s, nothing else (same Node, same machine, same window)' },
      note: `${AGENT_BUNDLE} with the shipped settings (a held long-poll of 25 s, the 5 min fallback poll, heartbeat 60 s); CPU time from /proc is counted in 10 ms ticks`,
    };
  } finally {
    child.kill('SIGTERM');
    floor.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((l) => round(l, 2));
  const home = mkdtempSync(join(tmpdir(), 'certctl-bench-agents-'));
  const adminKey = `bench-admin-${randomBytes(12).toString('hex')}`;
  const databaseUrl = await freshDatabase(settings.adminUrl, DATABASE);
  const api = await ApiProcess.start({
    CERTCTL_DATABASE_URL: databaseUrl, CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: `certctl-bench-agents-${randomBytes(3).toString('hex')}`,
    CERTCTL_API_KEY: adminKey, CERTCTL_LOG_LEVEL: 'warn', CERTCTL_DATABASE_MAX_CONNS: '20',
  });
  process.on('exit', () => api.killNow());
  try {
    await api.waitReady();
    progress(`api ready at ${api.baseUrl} (pid ${api.pid}); registering ${settings.agents} agents`);
    const fleet = await register(api.baseUrl, adminKey, settings.agents + 1);
    const idleIdentity = fleet.pop()!;
    const steps = [];
    for (const rate of settings.rates) {
      progress(`${rate} work polls/s offered (${settings.agents} agents, every ${round(settings.agents / rate, 2)} s)`);
      const step = await runStep(api.baseUrl, fleet, home, rate, api.pid!);
      progress(`  achieved ${step.achieved_polls_per_s}/s, p50 ${step.work_poll_latency_ms.p50} ms, p99 ${step.work_poll_latency_ms.p99} ms, errors ${step.errors}, api ${step.cpu.api_pct} %, ` +
        `fleet process event-loop delay p99 ${step.agents_process_event_loop_delay_ms.p99} ms (max ${step.agents_process_event_loop_delay_ms.max})`);
      steps.push(step);
      // A step over the latency limit still says how much the api can take; ramping stops when it falls behind.
      if (!step.kept_up) break;
    }
    const passing = steps.filter((s) => s.pass);
    const costs = steps.filter((s) => s.cpu_ms_per_poll.api !== null && s.cpu_ms_per_poll.postgres !== null)
      .map((s) => s.cpu_ms_per_poll.api! + s.cpu_ms_per_poll.postgres!).sort((a, b) => a - b);
    const serverMsPerPoll = costs.length ? costs[Math.floor(costs.length / 2)]! : null;
    const cpuBoundPolls = serverMsPerPoll ? Math.floor((cpus().length * 1000) / serverMsPerPoll) : null;
    const sustained = passing.length ? Math.max(...passing.map((s) => s.achieved_polls_per_s)) : 0;
    progress(`idle agent: ${settings.idleS} s`);
    const idle = await idleAgent(api.baseUrl, idleIdentity, home);
    progress(`  RSS max ${idle.rss_mib_max} MiB (a bare Node HTTP poller: ${idle.node_floor.rss_mib_max} MiB), CPU ${idle.cpu_pct} %`);
    const results = {
      benchmark: 'agents',
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', total_memory_gib: round(totalmem() / 1024 ** 3, 1), os: release(), node: process.version,
        load_average_at_start: loadAtStart, load_average_at_end: loadavg().map((l) => round(l, 2)),
      },
      setup: {
        agents_in_one_process: settings.agents, step_s: settings.stepS, warmup_s: settings.warmupS,
        note: 'real agent code (CertctlAgent + ApiClient), one Node process; every poll finds no work; heartbeats at twice the poll interval',
      },
      headline: {
        sustained_work_polls_per_s: sustained, p99_limit_ms: P99_LIMIT_MS,
        agents_at_30s_poll_interval: Math.floor(sustained * SHIPPED_POLL_S),
        cpu_bound_estimate: {
          server_cpu_ms_per_poll_median: serverMsPerPoll, work_polls_per_s: cpuBoundPolls,
          agents_at_30s_poll_interval: cpuBoundPolls === null ? null : cpuBoundPolls * SHIPPED_POLL_S,
          note: 'all cores for the api and PostgreSQL, no load generator beside them: derived from the CPU per poll, not measured; PostgreSQL CPU counts every postgres process on the machine (other users included), so it errs low',
        },
        idle_agent_rss_mib_max: idle.rss_mib_max, idle_agent_cpu_pct: idle.cpu_pct, node_floor_rss_mib_max: idle.node_floor.rss_mib_max,
      },
      steps,
      idle_agent: idle,
    };
    mkdirSync(dirname(RESULTS_FILE), { recursive: true });
    writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    progress(`sustained ${sustained} work polls/s with p99 < ${P99_LIMIT_MS} ms → ${results.headline.agents_at_30s_poll_interval} agents at a 30 s interval; written to ${RESULTS_FILE}`);
  } finally {
    await api.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

const longPollSettings = {
  agents: Number(process.env.BENCH_LP_AGENTS ?? 10_000),
  /** Processes the simulated fleet is spread over, so that the generator is not the bottleneck. */
  processes: Number(process.env.BENCH_LP_PROCESSES ?? 4),
  deliveries: Number(process.env.BENCH_LP_DELIVERIES ?? 300),
  idleS: Number(process.env.BENCH_LP_IDLE_S ?? 30),
  waitS: Number(process.env.BENCH_LP_WAIT_S ?? 25),
  rampS: Number(process.env.BENCH_LP_RAMP_S ?? 25),
};
const LONG_POLL_RESULTS_FILE = resolve(ROOT, 'bench', 'results', 'agents-long-poll.json');

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const openFilesOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function heldOn(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`).catch((err: Error & { cause?: Error }) => {
    throw new Error(`GET ${baseUrl}/metrics: ${err.message} (${err.cause?.message ?? 'no cause'})`);
  })).text();
  const line = text.split('\n').find((l) => l.startsWith('certctl_agent_long_polls_held'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function adminPost(baseUrl: string, adminKey: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/**
 * Registers `count` agents the way POST /api/v1/agents stores them (an agents row, an api_keys row of role
 * `agent` bound to it holding the SHA-256 of its secret), each with one NGINX target, in a few statements:
 * 10,000 registrations through the api would take minutes of a busy machine.
 */
async function bulkRegister(db: import('pg').Client, count: number): Promise<Array<Registered & { targetId: string }>> {
  const { newId } = await import('@certctl/db');
  // As ApiKeysService mints and stores them: `cck_` + 32 random bytes (base64url), kept as their SHA-256 in hex.
  const generateApiKey = () => `cck_${randomBytes(32).toString('base64url')}`;
  const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');
  const runId = randomBytes(3).toString('hex');
  const fleet = Array.from({ length: count }, (_, i) => ({
    id: newId('agent'), name: `bench-agent-${runId}-${i}`, key: generateApiKey(), keyId: newId('apiKey'), targetId: newId('target'),
  }));
  const config = { cert_path: '/etc/nginx/ssl/bench.pem', key_path: '/etc/nginx/ssl/bench.key', validate_command: 'nginx -t', reload_command: 'nginx -s reload' };
  for (let from = 0; from < count; from += 2_000) {
    const part = fleet.slice(from, from + 2_000);
    await db.query('BEGIN');
    await db.query('INSERT INTO agents (id, name) SELECT * FROM unnest($1::text[], $2::text[])', [part.map((a) => a.id), part.map((a) => a.name)]);
    await db.query(
      `INSERT INTO api_keys (id, name, key_hash, role, agent_id, created_by)
       SELECT k, 'agent:' || n, h, 'agent', a, 'bench' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(k, n, h, a)`,
      [part.map((a) => a.keyId), part.map((a) => a.name), part.map((a) => sha256Hex(a.key)), part.map((a) => a.id)],
    );
    await db.query(
      `INSERT INTO deployment_targets (id, name, type, agent_id, config)
       SELECT t, 'bench-target-' || a, 'NGINX', a, $3::jsonb FROM unnest($1::text[], $2::text[]) AS u(t, a)`,
      [part.map((a) => a.targetId), part.map((a) => a.id), JSON.stringify(config)],
    );
    await db.query('COMMIT');
  }
  return fleet.map((a) => ({ id: a.id, key: a.key, targetId: a.targetId }));
}

/** The simulated fleet's processes (bench/lib/long-poll-fleet-worker.ts), each with its share of the agents. */
class FleetProcesses {
  readonly children: ChildProcess[];
  readonly delivered = new Map<string, (at: number) => void>();

  constructor(count: number) {
    this.children = Array.from({ length: count }, () => {
      const child = fork(resolve(__dirname, 'lib', 'long-poll-fleet-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (m: { type: string; jobId?: string; at?: number }) => {
        if (m.type === 'delivered') this.delivered.get(m.jobId!)?.(m.at!);
      });
      return child;
    });
  }

  start(agents: FleetAgent[], waitS: number, rampMs: number): void {
    this.children.forEach((child, p) => child.send({ type: 'start', agents: agents.filter((_, i) => i % this.children.length === p), waitS, rampMs } satisfies FleetCommand));
  }

  /** CPU, event-loop delay and errors of each process since the previous call. */
  stats(): Promise<FleetStats[]> {
    return Promise.all(this.children.map((child) => new Promise<FleetStats>((done) => {
      const onMessage = (m: FleetStats) => {
        if (m.type !== 'stats') return;
        child.off('message', onMessage);
        done(m);
      };
      child.on('message', onMessage);
      child.send({ type: 'stats' } satisfies FleetCommand);
    })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((child) => new Promise<void>((done) => {
      if (child.exitCode !== null || !child.connected) return done();
      child.once('exit', () => done());
      child.send({ type: 'stop' } satisfies FleetCommand);
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    })));
  }
}

const roundedStats = (all: FleetStats[]) => all.map((s) => ({
  cpu_pct: s.cpu_pct, event_loop_delay_ms: { p50: round(s.event_loop_delay_ms.p50, 1), p99: round(s.event_loop_delay_ms.p99, 1), max: round(s.event_loop_delay_ms.max, 1) },
  errors: s.errors, first_error: s.first_error, answers: s.answers, rss_mib: s.rss_mib,
}));

async function longPollMain(): Promise<void> {
  const { Client } = await import('pg');
  const { Redis } = await import('ioredis');
  const { agentWorkChannel } = await import('@certctl/db');
  const loadAtStart = loadavg().map((l) => round(l, 2));
  const adminKey = `bench-admin-${randomBytes(12).toString('hex')}`;
  const queuePrefix = `certctl-bench-agents-lp-${randomBytes(3).toString('hex')}`;
  const databaseUrl = await freshDatabase(settings.adminUrl, DATABASE);
  const env = {
    CERTCTL_DATABASE_URL: databaseUrl, CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: queuePrefix,
    CERTCTL_API_KEY: adminKey, CERTCTL_LOG_LEVEL: 'warn', CERTCTL_DATABASE_MAX_CONNS: '20', CERTCTL_DEMO_SEED: 'false',
  };
  const apis = [await ApiProcess.start(env), await ApiProcess.start(env)];
  process.on('exit', () => apis.forEach((a) => a.killNow()));
  const db = new Client({ connectionString: databaseUrl });
  const redis = new Redis(settings.redisUrl);
  const fleetProcesses = new FleetProcesses(longPollSettings.processes);
  try {
    await Promise.all(apis.map((a) => a.waitReady()));
    await db.connect();
    const [a] = apis as [ApiProcess, ApiProcess];
    const registerStarted = Date.now();
    const fleet = await bulkRegister(db, longPollSettings.agents);
    const registerS = round((Date.now() - registerStarted) / 1000, 1);
    progress(`two apis ready (${apis.map((x) => x.baseUrl).join(', ')}); ${fleet.length} agents with their keys and targets inserted in ${registerS} s`);
    const team = await adminPost(a.baseUrl, adminKey, '/api/v1/teams', { name: `bench-team-${randomBytes(3).toString('hex')}` });
    const owner = await adminPost(a.baseUrl, adminKey, '/api/v1/owners', { name: 'bench-owner', email: 'owner@example.com', team_id: team.id });
    const issuer = await adminPost(a.baseUrl, adminKey, '/api/v1/issuers', { name: `bench-issuer-${randomBytes(3).toString('hex')}`, type: 'GenericCA' });
    const name = `lp-${randomBytes(3).toString('hex')}.example.com`;
    const cert = await adminPost(a.baseUrl, adminKey, '/api/v1/certificates', {
      name, common_name: name, sans: [name], environment: 'prod', owner_id: owner.id, team_id: team.id, issuer_id: issuer.id,
    });
    // The baseline after the admin calls, before any agent connects: the growth is the fleet's.
    await sleep(2_000);
    const rssBaseline = apis.map((api) => rssOf(api.pid!));
    const filesBaseline = apis.map((api) => openFilesOf(api.pid!));

    progress(`${fleet.length} agents over ${longPollSettings.processes} processes, started over ${longPollSettings.rampS} s, each holding GET /work?wait=${longPollSettings.waitS}`);
    fleetProcesses.start(fleet.map((agent, i) => ({ id: agent.id, key: agent.key, serverUrl: apis[i % 2]!.baseUrl })), longPollSettings.waitS, longPollSettings.rampS * 1000);
    const allHeld = async () => (await Promise.all(apis.map((x) => heldOn(x.baseUrl)))).reduce((sum, n) => sum + n, 0);
    const deadline = Date.now() + (longPollSettings.rampS + 90) * 1000;
    // Every agent held at least once: all of them re-poll within one wait, so "held now" hovers just under the fleet.
    let held = 0;
    // A starved api may not accept the bench's own /metrics connection in time: that is not the end of the run.
    const heldOrZero = () => allHeld().catch((err: Error) => (progress(`  ${err.message}`), 0));
    while ((held = await heldOrZero()) < fleet.length * 0.98) {
      if (Date.now() > deadline) throw new Error(`only ${held} of ${fleet.length} requests held after ${longPollSettings.rampS + 90} s: ${JSON.stringify(roundedStats(await fleetProcesses.stats()))}`);
      await sleep(5000);
      const stats = await fleetProcesses.stats();
      progress(`  ${held} held; fleet errors ${stats.map((x) => x.errors).join(' / ')} (${stats.find((x) => x.first_error)?.first_error ?? 'none'}), CPU ${stats.map((x) => x.cpu_pct).join(' / ')} %`);
    }
    const settleS = Math.min(longPollSettings.waitS, 30);
    progress(`${held} requests held; settling ${settleS} s, then idle for ${longPollSettings.idleS} s`);
    await sleep(settleS * 1000);
    await fleetProcesses.stats(); // resets the fleet's CPU and delay windows
    const heldPerApi = await Promise.all(apis.map((x) => heldOn(x.baseUrl)));
    const ticksBefore = apis.map((x) => processTicks(x.pid!) ?? 0);
    const postgresBefore = ticksOf(pidsByComm('postgres'));
    const machineBefore = machineTicks();
    const idleStarted = Date.now();
    await sleep(longPollSettings.idleS * 1000);
    const idleWallS = (Date.now() - idleStarted) / 1000;
    const machineAfter = machineTicks();
    const idleCpuPct = apis.map((x, i) => round((((processTicks(x.pid!) ?? 0) - ticksBefore[i]!) / TICKS_PER_S / idleWallS) * 100, 1));
    const postgresIdlePct = round((ticksBetween(postgresBefore, ticksOf(pidsByComm('postgres'))) / TICKS_PER_S / idleWallS) * 100, 1);
    const idleFleet = await fleetProcesses.stats();
    const rssHeld = apis.map((x) => rssOf(x.pid!));
    const filesHeld = apis.map((x) => openFilesOf(x.pid!));
    const heldAfterIdle = await Promise.all(apis.map((x) => heldOn(x.baseUrl)));
    progress(`idle: api CPU ${idleCpuPct.join(' / ')} %, PostgreSQL ${postgresIdlePct} %, fleet processes ${idleFleet.map((s) => s.cpu_pct).join(' / ')} %`);

    progress(`${longPollSettings.deliveries} deliveries`);
    const latencies: number[] = [];
    const channel = agentWorkChannel(queuePrefix);
    for (let n = 0; n < longPollSettings.deliveries; n++) {
      const agent = fleet[Math.floor(Math.random() * fleet.length)]!;
      const jobId = `job-lp-${randomBytes(6).toString('hex')}`;
      const delivered = new Promise<number>((done) => fleetProcesses.delivered.set(jobId, done));
      const started = performance.timeOrigin + performance.now();
      // What the orchestrator does for an agent target: the row committed, then the agents told.
      await db.query(
        `INSERT INTO jobs (id, type, certificate_id, target_id, agent_id, status, requested_by) VALUES ($1, 'Deployment', $2, $3, $4, 'Pending', 'bench')`,
        [jobId, cert.id, agent.targetId, agent.id],
      );
      await redis.publish(channel, agent.id);
      const at = await Promise.race([delivered, sleep(longPollSettings.waitS * 2000).then(() => NaN)]);
      fleetProcesses.delivered.delete(jobId);
      latencies.push(at - started);
      await sleep(20);
    }
    const deliveryFleet = await fleetProcesses.stats();
    const lost = latencies.filter((l) => Number.isNaN(l)).length;
    const latency = summarize(latencies.filter((l) => !Number.isNaN(l)));
    const errors = [...idleFleet, ...deliveryFleet].reduce((sum, s) => sum + s.errors, 0);
    const firstError = [...idleFleet, ...deliveryFleet].find((s) => s.first_error)?.first_error ?? null;
    const memoryPerHeldKib = apis.map((_, i) => (heldPerApi[i] ? round((rssHeld[i]! - rssBaseline[i]!) / 1024 / heldPerApi[i]!, 1) : null));
    const results = {
      benchmark: 'agents-long-poll',
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', total_memory_gib: round(totalmem() / 1024 ** 3, 1), os: release(), node: process.version,
        load_average_at_start: loadAtStart, load_average_at_end: loadavg().map((l) => round(l, 2)),
        busy_cores_during_idle_window: machineBefore && machineAfter
          ? round(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * cpus().length, 2) : null,
      },
      setup: {
        api_processes: 2, agents: fleet.length, fleet_processes: longPollSettings.processes, wait_s: longPollSettings.waitS, ramp_s: longPollSettings.rampS,
        deliveries: longPollSettings.deliveries, idle_s: longPollSettings.idleS, registration_s: registerS,
        note: 'simulated agents: the agent\'s ApiClient, spread over several Node processes, each agent holding GET /work?wait=N one request after another, half on each api; agents, keys (SHA-256) and targets inserted in bulk as the api stores them; work is a Deployment row plus the orchestrator\'s PUBLISH, timed from before the INSERT to the answer read by the fleet process',
      },
      headline: {
        work_delivered_ms: latency, p99_limit_ms: 1000, lost_deliveries: lost, errors, first_error: firstError,
        api_idle_cpu_pct: idleCpuPct, postgres_idle_cpu_pct: postgresIdlePct, held_per_api: heldPerApi, held_per_api_after_idle: heldAfterIdle,
        api_rss_growth_kib_per_held_request: memoryPerHeldKib,
        api_rss_note: 'RSS with the fleet held minus RSS before any agent connected, per held request (socket, parser, request, response and the held poll; V8 heap not forced to collect)',
        api_open_files: { before_fleet: filesBaseline, fleet_held: filesHeld },
        fleet_processes_idle: roundedStats(idleFleet), fleet_processes_deliveries: roundedStats(deliveryFleet),
        pass: lost === 0 && errors === 0 && latency.p99 < 1000,
      },
      api_rss_mib: { before_fleet: rssBaseline.map((r) => round(r / 1024 ** 2, 1)), fleet_held: rssHeld.map((r) => round(r / 1024 ** 2, 1)) },
    };
    if (errors) progress(`api log tails:\n${apis.map((x) => x.output().split('\n').slice(-15).join('\n')).join('\n---\n')}`);
    const file = longPollSettings.agents < 10_000 ? join(tmpdir(), 'certctl-bench-agents-long-poll.small.json') : LONG_POLL_RESULTS_FILE;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    progress(`delivered p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms (${lost} lost, ${errors} errors: ${firstError}); api idle CPU ${idleCpuPct.join(' / ')} %; ` +
      `RSS per held request ${memoryPerHeldKib.join(' / ')} KiB; written to ${file}`);
  } catch (err) {
    progress(`failed; api log tails (running: ${apis.map((x) => x.running).join(', ')}):\n${apis.map((x) => x.output().split('\n').slice(-15).join('\n')).join('\n---\n')}`);
    throw err;
  } finally {
    await fleetProcesses.stop();
    redis.disconnect();
    await db.end().catch(() => undefined);
    await Promise.all(apis.map((x) => x.stop()));
  }
}

(process.env.BENCH_MODE === 'long-poll' ? longPollMain() : main()).catch((err: unknown) => {
  process.stderr.write(`[bench:agents] failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
