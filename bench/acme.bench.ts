/**
 * ACME server benchmark (issue 26): orders completed per second and p99 new-order → certificate.
 *
 *   npm run bench:acme                (wrap in `flock /tmp/certctl-bench.lock` on a shared machine)
 *   BENCH_QUICK=1 npm run bench:acme  (a sanity run: 64 orders a contender; figures are not results)
 *   BENCH_ORDERS=1000 BENCH_CONCURRENCY=16 BENCH_ROUNDS=3 (the defaults)
 *
 * Contenders, interleaved in every round (order rotated, rounds.ts), each driven by the same acme-client code
 * (BENCH_CONCURRENCY clients, one account each, created before the rounds; one shared P-256 key for every CSR):
 * - `ours_trust`: our ACME server (the built api, orchestrator and responder from dist/, one process each, logging
 *   at info) on a `trust_authenticated` profile with EAB-bound accounts: new-order is `ready` at once.
 * - `pebble`: Let's Encrypt's Pebble (Debian package) with PEBBLE_VA_ALWAYS_VALID=1 and PEBBLE_VA_NOSLEEP=1, and
 *   PEBBLE_WFE_NONCEREJECT=0 (by default Pebble refuses 5 % of nonces on purpose, which would cost it retries):
 *   every challenge is answered (POST) but never checked.
 * - `ours_http01`: our server on a `challenge` profile: each name is validated for real over http-01 by the
 *   orchestrator's acme-validation workers (as shipped: concurrency 10), against an answer server in this process,
 *   the name resolved (A, then CAA climbing to the root) through a real BIND9 with a wildcard record.
 * One order = new-order, its authorizations read, for each pending one the http-01 challenge answered and waited
 * for, finalize, the order polled until valid (acme-client's backoff: 20 ms doubling to 500 ms for both servers),
 * certificate downloaded and its SAN checked. Rate = orders / (first new-order → last certificate) by this
 * process's clock; p99 of each order's new-order → certificate time. CPU seconds of every process are recorded.
 * BENCH_APP_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles our three apps (bench/lib/app-process.ts).
 * Results in bench/results/acme.json.
 */
import 'reflect-metadata';
import { randomBytes, X509Certificate } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { cpus, release } from 'node:os';
import * as acme from 'acme-client';
import { Bind9, bind9Missing, freePort, Pebble, pebbleMissing, startBind9, startPebble } from '@certctl/testing';
import { AppProcess } from './lib/app-process';
import { freshDatabase } from './lib/bench-dataset';
import { round } from './lib/http-load';
import { Client } from 'pg';
import { machineTicks, processTicks, ticksBetween, ticksOf, TICKS_PER_S } from './lib/proc-ticks';
import { resultsFile, writeResultsFile } from './lib/results-file';
import { formatRatio, formatSpread, interleave, loadAverage, quickMode, ratioOf, RoundRecord, roundsFromEnv, spreadOf } from './lib/rounds';

const DATABASE = 'certctl_bench_acme';
const ZONE = 'example.test';
const quick = quickMode();
const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  orders: Number(process.env.BENCH_ORDERS ?? (quick ? 64 : 1000)),
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 16),
  rounds: roundsFromEnv(),
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
  /** BENCH_CONTENDERS=ours_trust (a comma list) runs only those, e.g. for a profile; the results then lack the ratios. */
  contenders: (process.env.BENCH_CONTENDERS ?? 'ours_trust,pebble,ours_http01').split(',').map((c) => c.trim()) as ContenderName[],
};

const progress = (text: string) => console.log(`[bench:acme ${new Date().toISOString().slice(11, 19)}] ${text}`);

type ContenderName = 'ours_trust' | 'pebble' | 'ours_http01';

interface RunResult {
  orders: number;
  failed: number;
  first_error: string | null;
  wall_ms: number;
  orders_per_s: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  /** CPU seconds spent during the run, per process (null when not measurable) */
  cpu_s: Record<string, number | null>;
  machine_busy_pct: number | null;
}

/** The clients of one contender: accounts made once, reused every round. */
interface ContenderClients {
  name: ContenderName;
  clients: acme.Client[];
  /** processes whose CPU the run records */
  pids: Record<string, number | undefined>;
  /** PostgreSQL backends serving our apps (the bench database), whose CPU the run records too */
  postgresPids?: () => Promise<number[]>;
}

const answers = new Map<string, string>();

/** The http-01 answers the orchestrator's validators fetch (keep-alive off: each validation is a fresh connection anyway). */
function startAnswerServer(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const answer = token ? answers.get(token) : undefined;
    res.writeHead(answer ? 200 : 404, { 'content-type': 'text/plain' }).end(answer ?? 'no such token');
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One order, start to certificate, with the client code every contender shares. */
async function oneOrder(client: acme.Client, name: string, csrKey: Buffer): Promise<void> {
  const order = await client.createOrder({ identifiers: [{ type: 'dns', value: name }] });
  const authorizations = await client.getAuthorizations(order);
  for (const authz of authorizations) {
    if (authz.status === 'valid') continue;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge) throw new Error(`no http-01 challenge for ${name}`);
    answers.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
    try {
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
    } finally {
      answers.delete(challenge.token);
    }
  }
  const [, csr] = await acme.crypto.createCsr({ commonName: name }, csrKey);
  const finalized = await client.finalizeOrder(order, csr);
  const valid = finalized.status === 'valid' ? finalized : await client.waitForValidStatus(finalized);
  const pem = await client.getCertificate(valid);
  const leaf = new X509Certificate(acme.crypto.splitPemChain(pem)[0]!);
  if (leaf.subjectAltName !== `DNS:${name}`) throw new Error(`certificate for ${name} has SAN ${leaf.subjectAltName}`);
}

async function runContender(c: ContenderClients, roundNo: number, csrKey: Buffer): Promise<RunResult> {
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  const tag = `${c.name.replace('_', '')}-r${roundNo}-${randomBytes(3).toString('hex')}`;
  const ticksBefore = Object.fromEntries(Object.entries(c.pids).map(([k, pid]) => [k, pid ? processTicks(pid) : undefined]));
  const pgBefore = c.postgresPids ? ticksOf(await c.postgresPids()) : undefined;
  const clientCpuBefore = process.cpuUsage();
  const machineBefore = machineTicks();
  const started = performance.now();
  await Promise.all(c.clients.map(async (client) => {
    for (let i = next++; i < settings.orders; i = next++) {
      const t0 = performance.now();
      try {
        await oneOrder(client, `o${i}.${tag}.bench.${ZONE}`, csrKey);
        latencies.push(performance.now() - t0);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message.slice(0, 500);
      }
    }
  }));
  const wallMs = performance.now() - started;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const machineAfter = machineTicks();
  const cpu: Record<string, number | null> = { bench_client: round((clientCpu.user + clientCpu.system) / 1e6, 2) };
  for (const [k, pid] of Object.entries(c.pids)) {
    const after = pid ? processTicks(pid) : undefined;
    const before = ticksBefore[k];
    cpu[k] = after !== undefined && before !== undefined ? round((after - before) / TICKS_PER_S, 2) : null;
  }
  if (pgBefore && c.postgresPids) cpu.postgres_backends = round(ticksBetween(pgBefore, ticksOf(await c.postgresPids())) / TICKS_PER_S, 2);
  const sorted = latencies.sort((a, b) => a - b);
  const busy = machineBefore && machineAfter && machineAfter.total > machineBefore.total
    ? Math.round(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100 * cpus().length) : null;
  return {
    orders: latencies.length, failed, first_error: firstError, wall_ms: Math.round(wallMs),
    orders_per_s: round(latencies.length / (wallMs / 1000), 2),
    latency_ms: { p50: Math.round(percentile(sorted, 50)), p90: Math.round(percentile(sorted, 90)), p99: Math.round(percentile(sorted, 99)), max: Math.round(sorted.at(-1) ?? NaN) },
    cpu_s: cpu, machine_busy_pct: busy,
  };
}

async function must<T>(base: string, key: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`POST ${path}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

const backoff = { backoffAttempts: 60, backoffMin: 20, backoffMax: 500 };

async function makeClients(count: number, directoryUrl: string, eab?: () => Promise<{ kid: string; hmacKey: string }>): Promise<acme.Client[]> {
  const clients: acme.Client[] = [];
  for (let i = 0; i < count; i++) {
    const client = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: eab ? await eab() : undefined, ...backoff });
    await client.createAccount({ termsOfServiceAgreed: true });
    clients.push(client);
  }
  return clients;
}

async function main(): Promise<void> {
  const why = pebbleMissing() ?? bind9Missing();
  if (why) throw new Error(`bench:acme needs Pebble and BIND9: ${why}`);
  progress(`${settings.orders} orders × ${settings.concurrency} clients × ${settings.rounds} rounds${quick ? ' (BENCH_QUICK=1: figures are not results)' : ''}; fresh database ${DATABASE}`);
  const url = await freshDatabase(settings.adminUrl, DATABASE);
  const http01Port = await freePort();
  const answerServer = await startAnswerServer(http01Port);
  // Every name under bench.example.test resolves to loopback; no CAA anywhere, so CAA allows us after a full climb.
  const bind: Bind9 = await startBind9({ zone: ZONE, records: ['*.bench 60 IN A 127.0.0.1'] });
  const pebble: Pebble = await startPebble({
    httpPort: http01Port, env: { PEBBLE_VA_ALWAYS_VALID: '1', PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  });
  // acme-client's axios: keep-alive to both servers; Pebble's HTTPS trusted through its own pair.
  acme.axios.defaults.httpsAgent = new HttpsAgent({ ca: pebble.tlsCertPem, keepAlive: true });

  const apiKey = `bench-${randomBytes(24).toString('base64url')}`;
  const common: Record<string, string> = {
    CERTCTL_DATABASE_URL: url, CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: `bench-acme-${randomBytes(4).toString('hex')}`,
    CERTCTL_API_KEY: apiKey, CERTCTL_CONFIG_ENCRYPTION_KEY: randomBytes(32).toString('base64url'), CERTCTL_LOG_LEVEL: settings.logLevel,
    CERTCTL_DEMO_SEED: 'false', CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: '1h',
    CERTCTL_ACME_SERVER_ENABLED: 'true', CERTCTL_ACME_SERVER_HTTP01_PORT: String(http01Port), CERTCTL_ACME_SERVER_DNS_RESOLVER: bind.address,
    // The bench's 16 accounts and 1,000s of orders an hour from one address are its point, not abuse.
    CERTCTL_ACME_SERVER_ORDERS_PER_ACCOUNT_HOUR: '0', CERTCTL_ACME_SERVER_ACCOUNTS_PER_IP_HOUR: '0', CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN: '0',
    // The validators reach the bench's answer server on loopback (the outbound policy refuses loopback by default).
    CERTCTL_OUTBOUND_ALLOW_LOOPBACK: 'true',
  };
  const api = await AppProcess.start('api', common);
  const orchestrator = await AppProcess.start('orchestrator', common);
  let responder: AppProcess | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  try {
    await Promise.all([api.waitReady(), orchestrator.waitReady()]);
    const base = api.baseUrl;
    const team = await must<{ id: string }>(base, apiKey, '/api/v1/teams', { name: 'bench' });
    const owner = await must<{ id: string }>(base, apiKey, '/api/v1/owners', { name: 'bench', email: 'bench@example.com', team_id: team.id });
    const issuer = await must<{ id: string }>(base, apiKey, '/api/v1/issuers', { name: 'bench-ca', type: 'GenericCA' });
    const trust = await must<{ id: string }>(base, apiKey, '/api/v1/profiles', {
      name: 'bench-trust', acme_auth_mode: 'trust_authenticated', acme_issuer_id: issuer.id, acme_external_account_required: true,
    });
    const challenge = await must<{ id: string }>(base, apiKey, '/api/v1/profiles', {
      name: 'bench-http01', acme_auth_mode: 'challenge', acme_issuer_id: issuer.id, acme_external_account_required: false,
    });
    // Accounts without EAB (the challenge profile) get their certificates under this owner.
    responder = await AppProcess.start('responder', { ...common, CERTCTL_ACME_SERVER_DEFAULT_OWNER_ID: owner.id });
    await responder.waitReady();
    const directory = (profileId: string) => `${responder!.baseUrl}/acme/profile/${profileId}/directory`;
    const eab = async () => {
      const key = await must<{ id: string; hmac_key: string }>(base, apiKey, '/api/v1/acme/eab-keys', { profile_id: trust.id, owner_id: owner.id, team_id: team.id });
      return { kid: key.id, hmacKey: key.hmac_key };
    };
    const ours = { responder: responder.pid, orchestrator: orchestrator.pid, api: api.pid };
    // Backends of the bench database are our apps' (this process's own connection is idle during runs).
    const db = new Client({ connectionString: url });
    await db.connect();
    closers.push(() => db.end());
    const postgresPids = async () => (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [DATABASE])).rows.map((r) => r.pid);
    const makers: Record<ContenderName, () => Promise<ContenderClients>> = {
      ours_trust: async () => ({ name: 'ours_trust', clients: await makeClients(settings.concurrency, directory(trust.id), eab), pids: ours, postgresPids }),
      pebble: async () => ({ name: 'pebble', clients: await makeClients(settings.concurrency, pebble.directoryUrl), pids: { pebble: pebble.pid } }),
      ours_http01: async () => ({ name: 'ours_http01', clients: await makeClients(settings.concurrency, directory(challenge.id)), pids: ours, postgresPids }),
    };
    const contenders: ContenderClients[] = [];
    for (const name of settings.contenders) {
      if (!makers[name]) throw new Error(`BENCH_CONTENDERS: unknown contender ${name}`);
      contenders.push(await makers[name]());
    }
    progress(`${settings.concurrency} accounts on each contender; ours at ${responder.baseUrl}, Pebble at ${pebble.directoryUrl}`);
    const csrKey = await acme.crypto.createPrivateEcdsaKey();

    // A short warm-up of each (JIT, connection pools, the CA key loaded), not counted.
    for (const c of contenders) {
      await Promise.all(c.clients.slice(0, 4).map((client, i) => oneOrder(client, `warm${i}.${c.name.replace('_', '')}.bench.${ZONE}`, csrKey)));
    }

    const rounds: Array<RoundRecord<RunResult>> = await interleave<RunResult>(contenders.map((c) => ({
      name: c.name,
      run: async (roundNo) => {
        const r = await runContender(c, roundNo, csrKey);
        progress(`  ${c.name}: ${r.orders}/${settings.orders} orders in ${r.wall_ms} ms = ${r.orders_per_s}/s, p99 ${r.latency_ms.p99} ms${r.failed ? `, ${r.failed} FAILED (${r.first_error})` : ''}; CPU s ${JSON.stringify(r.cpu_s)}`);
        return r;
      },
    })), settings.rounds, { progress });

    const failures = rounds.flatMap((r) => Object.entries(r.results).filter(([, x]) => x.failed).map(([n, x]) => `${n} round ${r.round}: ${x.failed} failed (${x.first_error})`));
    const rate = (r: RunResult) => r.orders_per_s;
    const p99 = (r: RunResult) => r.latency_ms.p99;
    const summary = {
      orders_per_s: spreadOf(rounds, rate),
      p99_ms: spreadOf(rounds, p99),
      ratio_trust_to_pebble: ratioOf(rounds, rate, 'ours_trust', 'pebble'),
      p99_ratio_trust_to_pebble: ratioOf(rounds, p99, 'ours_trust', 'pebble'),
      ratio_http01_to_trust: ratioOf(rounds, rate, 'ours_http01', 'ours_trust'),
      goals: { trust_vs_pebble: '>= 1.0', http01_vs_trust: '>= 0.5' },
    };
    const report = {
      bench: 'acme', at: new Date().toISOString(), quick,
      machine: { cpus: cpus().length, kernel: release(), node: process.version },
      settings: { contenders: settings.contenders, orders: settings.orders, concurrency: settings.concurrency, rounds: settings.rounds, log_level: settings.logLevel, client: `acme-client ${require('acme-client/package.json').version}`, client_backoff: backoff },
      summary,
      failures,
      loadavg_per_round: rounds.map((r) => ({ round: r.round, order: r.order, start: r.loadavg_start, end: r.loadavg_end })),
      loadavg_at_end: loadAverage(),
      rounds,
    };
    const file = resultsFile('acme');
    writeResultsFile(file, report);
    progress(`orders/s: ${Object.entries(summary.orders_per_s).map(([n, s]) => `${n} ${formatSpread(s)}`).join('; ')}`);
    progress(`p99 ms: ${Object.entries(summary.p99_ms).map(([n, s]) => `${n} ${formatSpread(s, 0)}`).join('; ')}`);
    progress(`${formatRatio(summary.ratio_trust_to_pebble)} (goal ≥ 1.0); ${formatRatio(summary.ratio_http01_to_trust)} (goal ≥ 0.5)`);
    progress(`written: ${file}`);
    if (failures.length) throw new Error(`orders failed:\n${failures.join('\n')}`);
  } finally {
    await Promise.all(closers.map((close) => close().catch(() => undefined)));
    await Promise.all([api.stop(), orchestrator.stop(), responder?.stop()]);
    await Promise.all([pebble.stop(), bind.stop()]);
    await new Promise<void>((done) => answerServer.close(() => done()));
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
