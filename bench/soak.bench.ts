/**
 * Chaos soak (issue 22 item 7): two replicas of every app (api, orchestrator, notifier, scanner, responder) on one
 * PostgreSQL database and one Redis of the soak's own, for BENCH_SOAK_MINUTES (default 30) of work — certificates
 * with short lifetimes renewed by the sweep and by hand, each deployed to a File target, revocations, network scans
 * of a TLS fleet, OCSP traffic, webhook notifications of which 30 % fail — while a chaos loop SIGKILLs a random app
 * every minute (and starts it again, as a supervisor would), restarts Redis twice (once keeping its append-only
 * file, once with its data gone) and terminates every PostgreSQL connection of the soak's database now and then.
 *
 * At the end the apps get time to finish what is due, then an invariant checker reads the database, the target
 * files, the webhook receiver and the responders, and proves (or counts the violations of):
 *  - every due certificate was renewed exactly once per renewal point (no missed renewal, no duplicate version);
 *  - every version reached its target exactly once (one Deployment job per version per target, the file on disk is
 *    the newest version);
 *  - every notification is sent or dead, and the receiver accepted each sent one exactly once;
 *  - no job, notification or scan is stuck;
 *  - OCSP says revoked for every revoked serial and good for every current one;
 *  - the api's metrics agree with the database.
 * Report: bench/results/soak.json (BENCH_QUICK=1: 5 minutes, a temp file; figures are not results).
 *
 *   npm run bench:soak
 *   BENCH_SOAK_MINUTES=10 BENCH_SOAK_CERTIFICATES=40 npm run bench:soak
 *
 * Environment: CERTCTL_BENCH_DATABASE_URL (admin URL of the PostgreSQL server, default
 * postgres://postgres@127.0.0.1:5432/postgres; the soak (re)creates the database certctl_soak on it). Redis is a
 * redis-server from PATH started by the soak on a free port, never a shared one (the soak restarts it).
 */
import 'reflect-metadata';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort, redisAnswers, redisServerOnPath } from '@certctl/testing';
import { closeAll, startTlsListener, TestPki } from '../test/support/tls-fleet';
import { AppName, AppProcess } from './lib/app-process';
import { freshDatabase } from './lib/bench-dataset';
import { resultsFile, writeResultsFile } from './lib/results-file';
import { quickMode } from './lib/rounds';

const run = promisify(execFile);
const quick = quickMode();
const APPS: AppName[] = ['api', 'orchestrator', 'notifier', 'scanner', 'responder'];
const DATABASE = 'certctl_soak';

const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  minutes: Number(process.env.BENCH_SOAK_MINUTES ?? (quick ? 5 : 30)),
  certificates: Number(process.env.BENCH_SOAK_CERTIFICATES ?? (quick ? 20 : 60)),
  replicas: 2,
  killEveryMs: Number(process.env.BENCH_SOAK_KILL_EVERY_MS ?? (quick ? 30_000 : 60_000)),
  terminatePostgresEveryMs: quick ? 45_000 : 90_000,
  webhookFailureRate: 0.3,
  fleetEndpoints: 12,
  /** How long the apps get after the chaos to finish what is due before the invariants are read. */
  settleTimeoutMs: 5 * 60_000,
};
/**
 * The certificates' lifetime: a few renewal points within the soak. A certificate is due at two thirds of its
 * lifetime (the renewal window is capped at a third of it) plus a spread of up to a thirtieth.
 */
const LIFETIME_S = Math.max(150, Math.round((settings.minutes * 60) / 2.2));
const SWEEP_INTERVAL_S = 5;
const API_KEY = `soak-${randomBytes(16).toString('hex')}`;

// ---------------------------------------------------------------------------------------------------------------------
// Peers the soak owns: Redis (restartable), the webhook receiver (30 % failing), a TLS fleet to scan.

class OwnRedis {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'certctl-soak-redis-'));
  constructor(readonly port: number) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Append-only file on, fsync every second: a clean restart keeps the data, the soak can also throw it away. */
  async start(): Promise<void> {
    const binary = redisServerOnPath();
    if (!binary) throw new Error('redis-server not on PATH (Debian: apt-get install -y redis-server)');
    mkdirSync(this.dir, { recursive: true });
    this.child = spawn(binary, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--save', ''], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await redisAnswers(this.url)); i++) await sleep(100);
    if (!(await redisAnswers(this.url))) throw new Error(`redis-server did not start on ${this.port}`);
  }

  /** SIGTERM: Redis writes its append-only file and exits; the next start reads it back. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** From a synchronous 'exit' handler. */
  killNow(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  async restartKeepingData(): Promise<void> {
    await this.stop('SIGTERM');
    await this.start();
  }

  async restartLosingData(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    await this.start();
  }
}

/** The webhook receiver: answers 503 to a share of deliveries; counts the accepted ones per notification id. */
async function startWebhookReceiver(failureRate: number) {
  const accepted = new Map<string, number>();
  let attempts = 0;
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attempts++;
      const id = String(req.headers['x-certctl-idempotency-key'] ?? '');
      if (Math.random() < failureRate) {
        refused++;
        res.writeHead(503).end('soak: failing on purpose');
        return;
      }
      if (id) accepted.set(id, (accepted.get(id) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    accepted,
    stats: () => ({ attempts, refused, accepted_ids: accepted.size }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// The apps: two replicas each, restarted after every kill.

interface Replica {
  name: AppName;
  index: number;
  process: AppProcess;
}

class Fleet {
  readonly replicas: Replica[] = [];
  constructor(private readonly env: Record<string, string>) {}

  async startAll(): Promise<void> {
    for (const name of APPS) {
      for (let index = 0; index < settings.replicas; index++) this.replicas.push({ name, index, process: await AppProcess.start(name, this.env) });
    }
    await Promise.all(this.replicas.map((r) => r.process.waitReady(120_000)));
  }

  urls(name: AppName): string[] {
    return this.replicas.filter((r) => r.name === name && r.process.running).map((r) => r.process.baseUrl);
  }

  /** SIGKILL one replica and start it again (a new port, as a rescheduled pod gets a new address). */
  async killAndRestart(replica: Replica): Promise<void> {
    process.kill(replica.process.pid!, 'SIGKILL');
    await replica.process.stop(1_000);
    replica.process = await AppProcess.start(replica.name, this.env);
    await replica.process.waitReady(120_000);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.process.stop()));
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Talking to the api through whichever replica answers.

class Api {
  private next = 0;
  failedCalls = 0;
  constructor(private readonly fleet: Fleet) {}

  async call(method: string, path: string, body?: unknown, attempts = 20): Promise<{ status: number; json: any }> {
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      const urls = this.fleet.urls('api');
      const base = urls[this.next++ % Math.max(1, urls.length)];
      if (!base) {
        await sleep(200);
        continue;
      }
      try {
        const res = await fetch(`${base}${path}`, {
          method, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        // A replica dying mid-request, or answering while its database connection was cut: try another.
        if (res.status >= 500) {
          last = new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
          await sleep(200);
          continue;
        }
        return { status: res.status, json: text ? JSON.parse(text) : undefined };
      } catch (err) {
        last = err;
        await sleep(200);
      }
    }
    this.failedCalls++;
    throw last instanceof Error ? last : new Error(String(last));
  }

  async create(path: string, body: unknown): Promise<any> {
    const res = await this.call('POST', path, body);
    if (res.status !== 201) throw new Error(`POST ${path}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    return res.json;
  }
}

// ---------------------------------------------------------------------------------------------------------------------

interface ChaosEvent {
  at_s: number;
  what: string;
  recovered_ms?: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const t = () => Math.round((Date.now() - started) / 1000);
  const log = (line: string) => process.stdout.write(`[soak ${String(t()).padStart(5)} s] ${line}\n`);
  log(`${settings.minutes} min, ${settings.certificates} certificates of ${LIFETIME_S} s, ${settings.replicas} replicas of ${APPS.join(', ')}${quick ? ' (BENCH_QUICK=1: figures are not results)' : ''}`);

  const databaseUrl = await freshDatabase(settings.adminUrl, DATABASE);
  const redis = new OwnRedis(await freePort());
  await redis.start();
  const receiver = await startWebhookReceiver(settings.webhookFailureRate);
  const deployRoot = mkdtempSync(join(tmpdir(), 'certctl-soak-deploy-'));

  // The TLS fleet the scanner sweeps: one listener per loopback address, each with a leaf of its own.
  const pki = await TestPki.create();
  const fleetPort = await freePort();
  const fleetServers: Server[] = [];
  for (let i = 1; i <= settings.fleetEndpoints; i++) {
    fleetServers.push(await startTlsListener(`127.0.91.${i}`, fleetPort, await pki.leaf(`host-${i}.fleet.soak.test`)) as unknown as Server);
  }

  const env: Record<string, string> = {
    CERTCTL_DATABASE_URL: databaseUrl,
    CERTCTL_REDIS_URL: redis.url,
    CERTCTL_API_KEY: API_KEY,
    CERTCTL_AUTH_TYPE: 'api-key',
    CERTCTL_CONFIG_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    CERTCTL_KEYGEN_MODE: 'server',
    CERTCTL_LOG_LEVEL: 'warn',
    CERTCTL_WEBHOOK_URL: receiver.url,
    CERTCTL_NOTIFICATION_DEFAULT_CHANNELS: 'Webhook',
    CERTCTL_OUTBOUND_ALLOW_LOOPBACK: 'true',
    CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true',
    CERTCTL_DEPLOY_ALLOWED_ROOTS: deployRoot,
    CERTCTL_NOTIFICATION_BACKOFF_BASE: '1s',
    CERTCTL_NOTIFICATION_BACKOFF_MAX: '8s',
    CERTCTL_NOTIFICATION_RETRY_INTERVAL: '5s',
    CERTCTL_ISSUANCE_RETRY_BASE_DELAY: '1s',
    CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: `${SWEEP_INTERVAL_S}s`,
    CERTCTL_SCHEDULER_RECONCILE_INTERVAL: '5s',
    CERTCTL_SCHEDULER_JOB_TIMEOUT_INTERVAL: '10s',
  };
  const fleet = new Fleet(env);
  // Never leave a replica or the Redis behind, however this process ends: orphans of an earlier run would join the
  // next one's database (same name) with their own encryption key and sign nothing but errors there.
  process.once('exit', () => {
    for (const replica of fleet.replicas) replica.process.killNow();
    redis.killNow();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  await fleet.startAll();
  log(`apps ready: ${fleet.replicas.length} processes`);
  const api = new Api(fleet);

  // ---- inventory: one team, owner, issuer (the Local CA), short-lived profile, policy; a File target per certificate.
  const team = await api.create('/api/v1/teams', { name: 'soak' });
  const owner = await api.create('/api/v1/owners', { name: 'soak-owner', email: 'soak@example.test', team_id: team.id });
  const issuer = await api.create('/api/v1/issuers', { name: 'soak-ca', type: 'GenericCA' });
  const profile = await api.create('/api/v1/profiles', { name: 'soak-short', max_ttl_seconds: LIFETIME_S, allow_short_lived: true });
  const policy = await api.create('/api/v1/renewal-policies', { name: 'soak-policy', renewal_window_days: 1, auto_renew: true, alert_thresholds_days: [0] });
  const certificateIds: string[] = [];
  const targetOf = new Map<string, { id: string; certPath: string }>();
  for (let i = 0; i < settings.certificates; i++) {
    const dir = join(deployRoot, `svc-${i}`);
    mkdirSync(dir, { recursive: true });
    const certPath = join(dir, 'cert.pem');
    const target = await api.create('/api/v1/targets', { name: `soak-file-${i}`, type: 'File', config: { cert_path: certPath, key_path: join(dir, 'key.pem') } });
    const name = `svc-${i}.soak.test`;
    const cert = await api.create('/api/v1/certificates', {
      name, common_name: name, sans: [name], environment: 'soak', owner_id: owner.id, team_id: team.id, issuer_id: issuer.id,
      certificate_profile_id: profile.id, renewal_policy_id: policy.id, target_ids: [target.id],
    });
    certificateIds.push(cert.id);
    targetOf.set(cert.id, { id: target.id, certPath });
    await api.call('POST', `/api/v1/certificates/${cert.id}/renew`, {});
  }
  const scanTarget = await api.create('/api/v1/network-scan-targets', { name: 'soak-fleet', cidrs: [`127.0.91.0/28`], ports: [fleetPort] });
  log(`inventory created: ${certificateIds.length} certificates, targets and a scan target`);

  // ---- load and chaos, until the soak's time is up.
  const endAt = started + settings.minutes * 60_000;
  const chaos: ChaosEvent[] = [];
  const counts = { manual_renewals: 0, manual_renewal_conflicts: 0, revocations: 0, scans_started: 0, ocsp_requests: 0, ocsp_failures: 0 };
  const revoked = new Set<string>();
  const running = () => Date.now() < endAt;

  const chaosLoop = async () => {
    let nextKill = Date.now() + settings.killEveryMs;
    let nextTerminate = Date.now() + settings.terminatePostgresEveryMs;
    const redisRestarts = [started + (endAt - started) / 3, started + (2 * (endAt - started)) / 3];
    let redisDone = 0;
    const victimKinds: AppName[] = [];
    while (running()) {
      const now = Date.now();
      if (now >= nextKill) {
        // Every kind of app in turn (in a shuffled order each round), a random replica of it.
        if (!victimKinds.length) victimKinds.push(...[...APPS].sort(() => Math.random() - 0.5));
        const kind = victimKinds.shift()!;
        const candidates = fleet.replicas.filter((r) => r.name === kind);
        const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
        const at = Date.now();
        await fleet.killAndRestart(victim);
        chaos.push({ at_s: t(), what: `SIGKILL ${victim.name}#${victim.index}`, recovered_ms: Date.now() - at });
        log(`killed and restarted ${victim.name}#${victim.index} (${Date.now() - at} ms)`);
        nextKill += settings.killEveryMs;
      } else if (redisDone < 2 && now >= redisRestarts[redisDone]!) {
        const at = Date.now();
        if (redisDone === 0) await redis.restartKeepingData();
        else await redis.restartLosingData();
        chaos.push({ at_s: t(), what: redisDone === 0 ? 'Redis restarted (append-only file kept)' : 'Redis restarted with its data lost', recovered_ms: Date.now() - at });
        log(chaos[chaos.length - 1]!.what);
        redisDone++;
      } else if (now >= nextTerminate) {
        const admin = new Client({ connectionString: settings.adminUrl });
        await admin.connect();
        const { rowCount } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [DATABASE]);
        await admin.end();
        chaos.push({ at_s: t(), what: `terminated ${rowCount} PostgreSQL connections` });
        log(`terminated ${rowCount} PostgreSQL connections`);
        nextTerminate += settings.terminatePostgresEveryMs;
      } else {
        await sleep(250);
      }
    }
  };

  /** Renewals by hand (as an operator would, now and then) and three revocations halfway. */
  const operatorLoop = async () => {
    let revokedHalfway = false;
    while (running()) {
      const id = certificateIds[Math.floor(Math.random() * certificateIds.length)]!;
      if (!revoked.has(id)) {
        const res = await api.call('POST', `/api/v1/certificates/${id}/renew`, {}).catch(() => undefined);
        if (res?.status === 202) counts.manual_renewals++;
        else if (res?.status === 409) counts.manual_renewal_conflicts++;
      }
      if (!revokedHalfway && Date.now() > started + (endAt - started) / 2) {
        revokedHalfway = true;
        for (const victim of certificateIds.slice(-3)) {
          const res = await api.call('POST', `/api/v1/certificates/${victim}/revoke`, { reason: 'keyCompromise' }).catch(() => undefined);
          if (res && res.status < 300) {
            revoked.add(victim);
            counts.revocations++;
          }
        }
      }
      await sleep(quick ? 20_000 : 60_000);
    }
  };

  const scanLoop = async () => {
    while (running()) {
      const res = await api.call('POST', `/api/v1/network-scan-targets/${scanTarget.id}/scan`, {}).catch(() => undefined);
      if (res?.status === 202) counts.scans_started++;
      await sleep(quick ? 40_000 : 120_000);
    }
  };

  /** OCSP GETs of current serials against the responders, a few per second, as TLS clients of the fleet would send. */
  const ocspLoop = async () => {
    let requests: Array<{ path: string }> = [];
    let refreshedAt = 0;
    while (running()) {
      if (Date.now() - refreshedAt > 20_000) {
        requests = await ocspGetPaths(databaseUrl, issuer.id).catch(() => requests);
        refreshedAt = Date.now();
      }
      const urls = fleet.urls('responder');
      if (requests.length && urls.length) {
        const pick = requests[Math.floor(Math.random() * requests.length)]!;
        counts.ocsp_requests++;
        const ok = await fetch(`${urls[counts.ocsp_requests % urls.length]}${pick.path}`, { signal: AbortSignal.timeout(5_000) })
          .then((r) => r.status === 200, () => false);
        if (!ok) counts.ocsp_failures++;
      }
      await sleep(100);
    }
  };

  await Promise.all([chaosLoop(), operatorLoop(), scanLoop(), ocspLoop()]);
  log('chaos over: letting the apps finish what is due');

  // ---- settle: every replica up, then wait until nothing is pending (or the settle time is up).
  for (const replica of fleet.replicas) if (!replica.process.running) await fleet.killAndRestart(replica).catch(() => undefined);
  const check = new Client({ connectionString: databaseUrl, application_name: 'certctl-soak-checker' });
  await check.connect();
  const settleStarted = Date.now();
  let open = await openWork(check);
  while (open.total > 0 && Date.now() - settleStarted < settings.settleTimeoutMs) {
    await sleep(1_000);
    open = await openWork(check);
  }
  const settledMs = Date.now() - settleStarted;
  log(`settled in ${settledMs} ms (${open.total} items still open)`);

  // ---- invariants
  const invariants = await checkInvariants(check, { certificateIds, targetOf, revoked, receiver, fleet, open, lifetimeS: LIFETIME_S, soakEndedAt: new Date(endAt), databaseUrl, issuerId: issuer.id, api });
  const violations = Object.values(invariants).reduce((n, inv) => n + inv.violations, 0);

  const report = {
    bench: 'soak',
    quick,
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, loadavg_at_end: loadavg().map((l) => Math.round(l * 100) / 100) },
    settings: { ...settings, lifetime_s: LIFETIME_S, sweep_interval_s: SWEEP_INTERVAL_S },
    workload: { ...counts, webhook: receiver.stats(), api_calls_failed_after_retries: api.failedCalls },
    chaos,
    settle_ms: settledMs,
    invariants,
    violations,
    verdict: violations === 0 ? 'pass' : 'fail',
  };
  const file = resultsFile('soak');
  writeResultsFile(file, report);
  log(`${violations === 0 ? 'PASS' : 'FAIL'}: ${violations} violations; report in ${file}`);
  for (const [name, inv] of Object.entries(invariants)) log(`  ${inv.violations === 0 ? 'ok  ' : 'FAIL'} ${name}: ${inv.summary}`);

  await check.end();
  await fleet.stopAll();
  await redis.stop();
  await receiver.close();
  await closeAll(fleetServers as never);
  rmSync(deployRoot, { recursive: true, force: true });
  rmSync(redis.dir, { recursive: true, force: true });
  process.exitCode = violations === 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------------------------------

/** OCSP GET paths (RFC 6960 appendix A) for the newest version of every certificate, built with openssl. */
async function ocspGetPaths(databaseUrl: string, issuerId: string): Promise<Array<{ path: string }>> {
  const rows = await newestVersions(databaseUrl, 50);
  const dir = mkdtempSync(join(tmpdir(), 'certctl-soak-ocsp-'));
  const paths: Array<{ path: string }> = [];
  try {
    for (const row of rows) {
      const [leaf, issuerPem] = splitPem(row.pem_chain);
      if (!leaf || !issuerPem) continue;
      writeFileSync(join(dir, 'leaf.pem'), leaf);
      writeFileSync(join(dir, 'issuer.pem'), issuerPem);
      await run('openssl', ['ocsp', '-issuer', join(dir, 'issuer.pem'), '-cert', join(dir, 'leaf.pem'), '-no_nonce', '-reqout', join(dir, 'req.der')]);
      const der = readFileSync(join(dir, 'req.der'));
      paths.push({ path: `/.well-known/pki/ocsp/${issuerId}/${encodeURIComponent(der.toString('base64'))}` });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return paths;
}

async function newestVersions(databaseUrl: string, limit: number): Promise<Array<{ certificate_id: string; pem_chain: string; serial_number: string }>> {
  const db = new Client({ connectionString: databaseUrl, application_name: 'certctl-soak-checker' });
  // The chaos loop terminates every connection to the database now and then: this one included.
  db.on('error', () => undefined);
  await db.connect();
  try {
    const { rows } = await db.query(
      `SELECT DISTINCT ON (certificate_id) certificate_id, pem_chain, serial_number FROM certificate_versions ORDER BY certificate_id, created_at DESC LIMIT $1`, [limit]);
    return rows;
  } finally {
    await db.end();
  }
}

function splitPem(chain: string): string[] {
  return chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** Work the apps still owe: jobs not finished, notifications not sent or dead, scans not done. */
async function openWork(db: Client) {
  const q = async (sql: string) => Number((await db.query(sql)).rows[0]?.n ?? 0);
  const jobs = await q(`SELECT count(*) AS n FROM jobs WHERE status IN ('Pending', 'Running', 'AwaitingCSR')`);
  const notifications = await q(`SELECT count(*) AS n FROM notification_events WHERE status IN ('pending', 'failed')`);
  const scans = await q(`SELECT count(*) AS n FROM discovery_scans WHERE status IN ('Pending', 'Running')`);
  return { jobs, notifications, scans, total: jobs + notifications + scans };
}

interface Invariant {
  violations: number;
  summary: string;
  details?: unknown;
}

async function checkInvariants(
  db: Client,
  ctx: {
    certificateIds: string[]; targetOf: Map<string, { id: string; certPath: string }>; revoked: Set<string>;
    receiver: Awaited<ReturnType<typeof startWebhookReceiver>>; fleet: Fleet; open: Awaited<ReturnType<typeof openWork>>;
    lifetimeS: number; soakEndedAt: Date; databaseUrl: string; issuerId: string; api: Api;
  },
): Promise<Record<string, Invariant>> {
  const out: Record<string, Invariant> = {};

  // 1. Renewals. A certificate is due at two thirds of its newest version's lifetime (plus a spread of at most a
  //    thirtieth). A version the sweep made must not be earlier than its predecessor's due point (else a renewal was
  //    duplicated or premature), every version comes from exactly one completed job, and no certificate may be left
  //    past its due point (plus the sweep's interval and a minute for issuance under chaos).
  const versions = (await db.query(
    `SELECT v.id, v.certificate_id, v.not_before, v.not_after, v.created_at, v.job_id, j.requested_by, j.type AS job_type, j.status AS job_status
       FROM certificate_versions v LEFT JOIN jobs j ON j.id = v.job_id
      WHERE v.certificate_id = ANY($1) ORDER BY v.certificate_id, v.created_at`, [ctx.certificateIds])).rows as Array<{
    id: string; certificate_id: string; not_before: Date; not_after: Date; created_at: Date; job_id: string | null; requested_by: string | null; job_type: string | null; job_status: string | null;
  }>;
  const byCert = new Map<string, typeof versions>();
  for (const v of versions) byCert.set(v.certificate_id, [...(byCert.get(v.certificate_id) ?? []), v]);
  const dueAt = (v: (typeof versions)[number]) => v.not_after.getTime() - (v.not_after.getTime() - v.not_before.getTime()) / 3;
  const spreadMs = (v: (typeof versions)[number]) => (v.not_after.getTime() - v.not_before.getTime()) / 30;
  const missed: string[] = [];
  const premature: string[] = [];
  const jobless: string[] = [];
  const checkedAt = Date.now();
  const jobsWithTwoVersions = (await db.query(
    `SELECT job_id, count(*)::int AS n FROM certificate_versions WHERE certificate_id = ANY($1) AND job_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1`, [ctx.certificateIds])).rows;
  for (const id of ctx.certificateIds) {
    const list = byCert.get(id) ?? [];
    if (!list.length) {
      missed.push(`${id}: never issued`);
      continue;
    }
    for (const [i, v] of list.entries()) {
      if (!v.job_id || v.job_status !== 'Completed') jobless.push(`${v.id}: job ${v.job_id ?? 'none'} ${v.job_status ?? ''}`);
      const previous = list[i - 1];
      if (previous && v.requested_by === 'system' && v.created_at.getTime() < dueAt(previous) - 2_000) {
        premature.push(`${v.id}: made by the sweep at ${v.created_at.toISOString()}, its predecessor was due at ${new Date(dueAt(previous)).toISOString()}`);
      }
    }
    const newest = list[list.length - 1]!;
    if (!ctx.revoked.has(id) && checkedAt > dueAt(newest) + spreadMs(newest) + SWEEP_INTERVAL_S * 1000 + 60_000) {
      missed.push(`${id}: newest version was due at ${new Date(dueAt(newest)).toISOString()}, nothing newer by ${new Date(checkedAt).toISOString()}`);
    }
  }
  const bySweep = versions.filter((v) => v.requested_by === 'system').length;
  out.renewed_exactly_once = {
    violations: missed.length + premature.length + jobless.length + jobsWithTwoVersions.length,
    summary: `${versions.length} versions of ${ctx.certificateIds.length} certificates (${bySweep} renewed by the sweep, the rest issued or renewed by hand); ` +
      `${missed.length} missed due points; ${premature.length} sweep renewals before their due point; ${jobless.length} versions without a completed job; ${jobsWithTwoVersions.length} jobs with two versions`,
    details: { missed: missed.slice(0, 20), premature: premature.slice(0, 20), jobless: jobless.slice(0, 20), jobs_with_two_versions: jobsWithTwoVersions.slice(0, 20) },
  };

  // 2. Deployments: one Deployment job per version per target, all Completed, and the file on disk is the newest version.
  const deployJobs = (await db.query(
    `SELECT certificate_id, target_id, status, count(*)::int AS n FROM jobs WHERE type = 'Deployment' AND certificate_id = ANY($1) GROUP BY 1, 2, 3`, [ctx.certificateIds])).rows;
  const deployProblems: string[] = [];
  const newestFingerprint = new Map<string, string>();
  for (const row of (await db.query(`SELECT DISTINCT ON (certificate_id) certificate_id, fingerprint_sha256, pem_chain FROM certificate_versions WHERE certificate_id = ANY($1) ORDER BY certificate_id, created_at DESC`, [ctx.certificateIds])).rows) {
    newestFingerprint.set(row.certificate_id, fingerprintOf(splitPem(row.pem_chain)[0] ?? ''));
  }
  let deploymentsCompleted = 0;
  for (const id of ctx.certificateIds) {
    const target = ctx.targetOf.get(id)!;
    const rows = deployJobs.filter((r) => r.certificate_id === id && r.target_id === target.id);
    const completed = rows.filter((r) => r.status === 'Completed').reduce((n, r) => n + r.n, 0);
    const other = rows.filter((r) => r.status !== 'Completed');
    deploymentsCompleted += completed;
    const versionCount = (byCert.get(id) ?? []).length;
    if (ctx.revoked.has(id)) continue;
    if (completed !== versionCount) deployProblems.push(`${id}: ${completed} completed deployments for ${versionCount} versions${other.length ? ` (+ ${other.map((o) => `${o.n} ${o.status}`).join(', ')})` : ''}`);
    const onDisk = existsSync(target.certPath) ? fingerprintOf(readFileSync(target.certPath, 'utf8')) : 'missing';
    if (onDisk !== newestFingerprint.get(id)) deployProblems.push(`${id}: target file holds ${onDisk.slice(0, 16)}, newest version is ${newestFingerprint.get(id)?.slice(0, 16)}`);
  }
  out.deployed_exactly_once = {
    violations: deployProblems.length,
    summary: `${deploymentsCompleted} deployments completed; ${deployProblems.length} problems`,
    details: deployProblems.slice(0, 20),
  };

  // 3. Notifications: every one sent, dead or skipped; the receiver accepted each Webhook one it was told was sent, once.
  const notifications = (await db.query(`SELECT id, status, channel FROM notification_events`)).rows as Array<{ id: string; status: string; channel: string }>;
  const byStatus: Record<string, number> = {};
  for (const n of notifications) byStatus[n.status] = (byStatus[n.status] ?? 0) + 1;
  const sentNotReceived = notifications.filter((n) => n.channel === 'Webhook' && n.status === 'sent' && !ctx.receiver.accepted.has(n.id));
  const receivedTwice = [...ctx.receiver.accepted.entries()].filter(([, count]) => count > 1);
  const unfinished = notifications.filter((n) => !['sent', 'dead', 'skipped', 'read'].includes(n.status));
  out.notifications_exactly_once = {
    violations: sentNotReceived.length + unfinished.length + receivedTwice.length,
    summary: `${notifications.length} notifications ${JSON.stringify(byStatus)}; ${sentNotReceived.length} marked sent but never accepted; ${receivedTwice.length} accepted more than once; ${unfinished.length} unfinished`,
    details: { sent_not_received: sentNotReceived.slice(0, 10).map((n) => n.id), received_twice: receivedTwice.slice(0, 10), unfinished: unfinished.slice(0, 10) },
  };

  // 4. Nothing stuck.
  const scans = (await db.query(`SELECT status, count(*)::int AS n FROM discovery_scans GROUP BY 1`)).rows;
  out.nothing_stuck = {
    violations: ctx.open.total,
    summary: `${ctx.open.jobs} jobs, ${ctx.open.notifications} notifications, ${ctx.open.scans} scans still open after settling; scans ${JSON.stringify(Object.fromEntries(scans.map((s) => [s.status, s.n])))}`,
  };

  // 5. OCSP: revoked serials answer revoked, current ones good (openssl ocsp against a responder replica).
  const ocspProblems: string[] = [];
  const responder = ctx.fleet.urls('responder')[0]!;
  const rows = await newestVersions(ctx.databaseUrl, 10_000);
  const sample = [...rows.filter((r) => ctx.revoked.has(r.certificate_id)), ...rows.filter((r) => !ctx.revoked.has(r.certificate_id)).slice(0, 10)];
  const dir = mkdtempSync(join(tmpdir(), 'certctl-soak-ocsp-check-'));
  try {
    for (const row of sample) {
      const [leaf, issuerPem] = splitPem(row.pem_chain);
      writeFileSync(join(dir, 'leaf.pem'), leaf!);
      writeFileSync(join(dir, 'issuer.pem'), issuerPem!);
      const answer = await run('openssl', ['ocsp', '-issuer', join(dir, 'issuer.pem'), '-cert', join(dir, 'leaf.pem'), '-url', `${responder}/.well-known/pki/ocsp/${ctx.issuerId}`, '-noverify'])
        .then((r) => r.stdout, (err: { stdout?: string; message: string }) => err.stdout ?? err.message);
      const expected = ctx.revoked.has(row.certificate_id) ? 'revoked' : 'good';
      if (!answer.includes(`: ${expected}`)) ocspProblems.push(`${row.certificate_id} (${row.serial_number}): expected ${expected}, got ${answer.trim().split('\n')[0]}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  out.ocsp_truthful = { violations: ocspProblems.length, summary: `${sample.length} serials asked; ${ocspProblems.length} wrong answers`, details: ocspProblems };

  // 6. The api's metrics agree with the database.
  const metrics = (await ctx.api.call('GET', '/api/v1/metrics')).json as { gauge?: Record<string, number>; counter?: Record<string, number> };
  const truth = (await db.query(
    `SELECT (SELECT count(*)::int FROM managed_certificates) AS certificate_total,
            (SELECT count(*)::int FROM managed_certificates WHERE status = 'Revoked') AS certificate_revoked,
            (SELECT count(*)::int FROM jobs WHERE status = 'Pending') AS job_pending,
            (SELECT count(*)::int FROM jobs WHERE status = 'Completed') AS job_completed_total,
            (SELECT count(*)::int FROM jobs WHERE status = 'Failed') AS job_failed_total`)).rows[0] as Record<string, number>;
  const metricProblems: string[] = [];
  for (const [name, value] of Object.entries(truth)) {
    const reported = metrics.gauge?.[name] ?? metrics.counter?.[name];
    if (reported !== undefined && reported !== value) metricProblems.push(`${name}: metrics say ${reported}, the database ${value}`);
    if (reported === undefined) metricProblems.push(`${name}: not in /api/v1/metrics`);
  }
  out.metrics_match_database = { violations: metricProblems.length, summary: `${Object.keys(truth).length} figures compared; ${metricProblems.length} differ`, details: metricProblems };
  return out;
}

function fingerprintOf(pem: string): string {
  try {
    return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
  } catch {
    return createHash('sha256').update(pem).digest('hex');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1); // the 'exit' handler stops the replicas and Redis
});
process.on('uncaughtException', (err) => {
  console.error(err);
  process.exit(1);
});
