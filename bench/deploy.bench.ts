/**
 * Deploy benchmark: 1,000 `File` targets on local disk, each with a validate command and a reload command that
 * do real work (`openssl x509 -noout -in {cert_path}` and `openssl x509 -noout -fingerprint -in <cert>`), deployed
 * by the built orchestrator from the deploy queue; then the same deploy again (an idempotent skip per target).
 *
 *   npm run bench:deploy
 *   BENCH_DEPLOY_TARGETS=2000 BENCH_DEPLOY_CONCURRENCY=32 npm run bench:deploy
 *   BENCH_DEPLOY_COMMANDS=light npm run bench:deploy   (cheap commands: the orchestrator's own ceiling)
 *
 * It (re)creates the database `certctl_bench_deploy` on CERTCTL_BENCH_DATABASE_URL's server (default
 * postgres://postgres@127.0.0.1:5432/postgres) with the real migrations, uses the Redis of CERTCTL_BENCH_REDIS_URL
 * under a key prefix of its own, starts one orchestrator (`node dist/apps/orchestrator/src/main.js`), inserts one
 * certificate with a server-generated key and N mapped targets, commits one Deployment job per target and
 * enqueues them all, and times the first commit to the last job row finished. Results in bench/results/deploy.json.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { DEFAULT_JOB_OPTIONS, Queue as QueueName, queueJobId } from '@certctl/contracts';
import { newId, runMigrations } from '@certctl/db';
import { describeCertificate, encryptSecret } from '@certctl/pki';
import { Queue } from 'bullmq';
import { TestCa } from '../libs/deploy/src/testing/material';

const ORCHESTRATOR_MAIN = resolve(__dirname, '..', 'apps', 'orchestrator', 'src', 'main.js');
const RESULTS_FILE = resolve(__dirname, '..', '..', 'bench', 'results', process.env.BENCH_DEPLOY_COMMANDS === 'light' ? 'deploy-light.json' : 'deploy.json');
const DATABASE = 'certctl_bench_deploy';
const TARGETS = { first: 100, idempotent: 1_000 };

const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  targets: Number(process.env.BENCH_DEPLOY_TARGETS ?? 1_000),
  concurrency: Number(process.env.BENCH_DEPLOY_CONCURRENCY ?? 16),
  /**
   * openssl (default): validate = `openssl x509 -noout -in {cert_path}`, reload = `openssl x509 -noout -fingerprint`;
   * each costs about 45 ms of CPU here (OpenSSL 3 sets up its decoders on every run), so two per deploy bound a
   * 2-core machine near 20 deploys/s. light: `grep -q "BEGIN CERTIFICATE"` on the temp and the live file, to
   * measure the orchestrator itself with commands that still read the files.
   */
  commands: process.env.BENCH_DEPLOY_COMMANDS === 'light' ? 'light' : 'openssl',
};

async function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => r(port));
    });
  });
}

async function startOrchestrator(env: Record<string, string>): Promise<ChildProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [ORCHESTRATOR_MAIN], {
    env: { ...process.env, ...env, CERTCTL_ORCHESTRATOR_PORT: String(port), CERTCTL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok).catch(() => false);
    if (ok) return child;
    await sleep(100);
  }
  throw new Error('orchestrator did not become ready');
}

/** Commits one Deployment job per target, enqueues them, and waits for every row to finish. */
async function round(db: Client, queue: Queue, certificateId: string, targetIds: string[]): Promise<{ seconds: number; completed: number; failed: number; outcomes: Record<string, number> }> {
  const jobIds = targetIds.map(() => newId('job'));
  const started = performance.now();
  await db.query(
    `INSERT INTO jobs (id, type, certificate_id, target_id, status, requested_by)
     SELECT unnest($1::text[]), 'Deployment', $2, unnest($3::text[]), 'Pending', 'bench'`,
    [jobIds, certificateId, targetIds],
  );
  for (let i = 0; i < jobIds.length; i += 500) {
    await queue.addBulk(jobIds.slice(i, i + 500).map((id) => ({
      name: 'certificate.deploy', data: { jobId: id }, opts: { ...DEFAULT_JOB_OPTIONS[QueueName.Deploy], jobId: queueJobId('certificate.deploy', id) },
    })));
  }
  for (;;) {
    const { rows } = await db.query(`SELECT count(*) FILTER (WHERE status IN ('Completed', 'Failed'))::int AS done FROM jobs WHERE id = ANY($1)`, [jobIds]);
    if (rows[0].done === jobIds.length) break;
    await sleep(20);
  }
  const seconds = (performance.now() - started) / 1000;
  const { rows } = await db.query(
    `SELECT status, deployment_result->>'outcome' AS outcome, count(*)::int AS n FROM jobs WHERE id = ANY($1) GROUP BY 1, 2`, [jobIds]);
  const outcomes = Object.fromEntries(rows.map((r) => [`${r.status}/${r.outcome}`, r.n]));
  const count = (status: string) => rows.filter((r) => r.status === status).reduce((a, r) => a + r.n, 0);
  return { seconds, completed: count('Completed'), failed: count('Failed'), outcomes };
}

async function main(): Promise<void> {
  const [load1] = loadavg();
  if (load1! > cpus().length * 0.5) process.stderr.write(`warning: load average ${load1!.toFixed(2)} — the machine is busy, figures will be low\n`);
  const admin = new Client({ connectionString: settings.adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const url = new URL(settings.adminUrl);
  url.pathname = `/${DATABASE}`;
  await runMigrations({ url: url.toString() });

  const encryptionKey = randomBytes(24).toString('hex');
  const prefix = `bench-deploy-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-deploy-'));
  const db = new Client({ connectionString: url.toString(), application_name: 'certctl-bench-deploy' });
  await db.connect();

  // One certificate (server-generated key, encrypted as the issuance worker stores it) and N File targets.
  const ca = await TestCa.create();
  const material = await ca.issue(['bench.example.com']);
  const info = describeCertificate(material.certPem);
  await db.query(`INSERT INTO owners (id, name, email) VALUES ('o-bench', 'bench', 'bench@example.com')`);
  await db.query(`INSERT INTO issuers (id, name, type) VALUES ('iss-bench', 'bench', 'GenericCA')`);
  await db.query(`INSERT INTO managed_certificates (id, name, common_name, owner_id, issuer_id, renewal_policy_id, status)
                  VALUES ('mc-bench', 'bench', 'bench.example.com', 'o-bench', 'iss-bench', 'rp-default', 'Active')`);
  await db.query(
    `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, encrypted_private_key)
     VALUES ('v-bench', 'mc-bench', $1, $2, $3, $4, $5, $6)`,
    [info.serialNumber, info.notBefore, info.notAfter, info.fingerprintSha256, material.certPem + material.chainPem, encryptSecret(material.keyPem!, encryptionKey)],
  );
  const targetIds: string[] = [];
  for (let i = 0; i < settings.targets; i++) {
    const targetDir = join(dir, `t${i}`);
    mkdirSync(targetDir);
    const cert = join(targetDir, 'cert.pem');
    targetIds.push(`target-bench-${i}`);
    await db.query(`INSERT INTO deployment_targets (id, name, type, config) VALUES ($1, $1, 'File', $2)`, [targetIds[i], {
      cert_path: cert, key_path: join(targetDir, 'key.pem'),
      ...(settings.commands === 'light'
        ? { validate_command: 'grep -q "BEGIN CERTIFICATE" {cert_path}', reload_command: `grep -q "BEGIN CERTIFICATE" ${cert}` }
        : { validate_command: 'openssl x509 -noout -in {cert_path}', reload_command: `openssl x509 -noout -fingerprint -sha256 -in ${cert}` }),
    }]);
  }
  await db.query(`INSERT INTO certificate_target_mappings (certificate_id, target_id) SELECT 'mc-bench', unnest($1::text[])`, [targetIds]);

  const orchestrator = await startOrchestrator({
    CERTCTL_DATABASE_URL: url.toString(), CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: prefix,
    CERTCTL_CONFIG_ENCRYPTION_KEY: encryptionKey, CERTCTL_DEPLOY_CONCURRENCY: String(settings.concurrency),
    CERTCTL_SCHEDULER_RECONCILE_INTERVAL: '1h',
  });
  const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QueueName.Deploy, { connection: redis, prefix });
  let first;
  let again;
  try {
    process.stderr.write(`first deploy to ${settings.targets} File targets…\n`);
    first = await round(db, queue, 'mc-bench', targetIds);
    process.stderr.write(`idempotent redeploy…\n`);
    again = await round(db, queue, 'mc-bench', targetIds);
  } finally {
    orchestrator.kill('SIGTERM');
    await new Promise((r) => orchestrator.once('exit', r));
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    for (const key of await redis.keys(`${prefix}:*`)) await redis.del(key);
    redis.disconnect();
    await db.end();
    rmSync(dir, { recursive: true, force: true });
  }

  const perSecond = (r: { seconds: number }) => Math.round((settings.targets / r.seconds) * 10) / 10;
  const report = {
    benchmark: 'deploy',
    measured_at: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10, kernel: release(), node: process.version, load_average_at_start: Math.round(load1! * 100) / 100 },
    settings: {
      targets: settings.targets, orchestrator_processes: 1, deploy_concurrency: settings.concurrency, commands: settings.commands,
      target_type: 'File (cert + key, validate and reload commands run with execFile)',
    },
    first_deploy: { seconds: Math.round(first.seconds * 100) / 100, deploys_per_second: perSecond(first), completed: first.completed, failed: first.failed, outcomes: first.outcomes, target_per_second: TARGETS.first, met: perSecond(first) >= TARGETS.first },
    idempotent_redeploy: { seconds: Math.round(again.seconds * 100) / 100, deploys_per_second: perSecond(again), completed: again.completed, failed: again.failed, outcomes: again.outcomes, target_per_second: TARGETS.idempotent, met: perSecond(again) >= TARGETS.idempotent },
  };
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ first: report.first_deploy, idempotent: report.idempotent_redeploy }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
