import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { ALLOWED_ROOTS_SETTING, ConfigError, DEFAULT_ALLOWED_ROOTS, loadConfig } from '@certctl/config';
import { APP_DATABASE_ROLE, runMigrations } from '@certctl/db';
import { freePort, startEmbeddedPostgres, startRedisServer, withDatabase } from '@certctl/testing';
import { seedDemoInventory } from './demo-seed';

/**
 * `npm start`: the whole platform on a laptop with no configuration.
 *  - PostgreSQL: CERTCTL_DATABASE_URL, or embedded PostgreSQL with its data under .data/postgres;
 *  - Redis: CERTCTL_REDIS_URL, or a redis-server from PATH on a free port;
 *  - migrates, seeds a demo inventory (CERTCTL_DEMO_SEED=false or --no-seed to skip),
 *  - starts api, orchestrator, notifier and scanner, prints the URLs and the admin key.
 * Ctrl-C stops everything it started.
 */
const ROOT = resolve(__dirname, '..', '..');
/** Where a laptop install keeps its embedded database, keys and demo deploys (CERTCTL_DATA_DIR, default .data). */
const DATA_DIR = resolve(process.env.CERTCTL_DATA_DIR || join(ROOT, '.data'));
const APPS = ['api', 'orchestrator', 'notifier', 'scanner', 'responder'] as const;

const stops: Array<() => Promise<void>> = [];
const children: ChildProcess[] = [];
let stopping = false;

async function main(): Promise<void> {
  const seed = !process.argv.includes('--no-seed');
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  // Validate what the operator did set before starting anything.
  loadConfig(env);

  const embeddedPostgres = !env.CERTCTL_DATABASE_URL;
  if (embeddedPostgres) {
    say('starting embedded PostgreSQL (data in .data/postgres)…');
    const pg = await startEmbeddedPostgres(join(DATA_DIR, 'postgres'));
    stops.push(pg.stop);
    await ensureDatabase(pg.url, 'certctl');
    env.CERTCTL_DATABASE_URL = withDatabase(pg.url, 'certctl');
  }
  if (!env.CERTCTL_REDIS_URL) {
    say('starting redis-server from PATH…');
    const redis = await startRedisServer();
    stops.push(redis.stop);
    env.CERTCTL_REDIS_URL = redis.url;
  }
  if (!env.CERTCTL_WEBHOOK_URL) {
    // Every alert has somewhere to go on a laptop: a local sink prints it here. The Webhook channel points at it and
    // is the default channel (certificates whose policy names none), unless the operator chose others.
    env.CERTCTL_WEBHOOK_URL = await startAlertSink();
    env.CERTCTL_NOTIFICATION_DEFAULT_CHANNELS ||= 'Webhook';
    // The sink listens on loopback: a laptop demo, where the API's destinations may be this host too.
    env.CERTCTL_OUTBOUND_ALLOW_LOOPBACK ||= 'true';
  }
  // Issued leaves say where their revocation lives: the responder started below.
  const preliminary = loadConfig(env);
  const responderHost = ['0.0.0.0', '::'].includes(preliminary.server.host) ? '127.0.0.1' : preliminary.server.host;
  env.CERTCTL_PKI_BASE_URL ||= `http://${responderHost.includes(':') ? `[${responderHost}]` : responderHost}:${preliminary.revocation.responderPort}`;
  env.CERTCTL_API_KEY ||= persistentSecret('admin-api-key', 'cck_');
  // Encrypts the local CA's key, issuer secrets and server-generated keys; lose it and they are unreadable.
  env.CERTCTL_CONFIG_ENCRYPTION_KEY ||= persistentSecret('encryption-key', '');
  // Signs the audit trail's checkpoints; kept outside the database so a database superuser cannot re-seal the trail.
  env.CERTCTL_AUDIT_HMAC_KEY ||= persistentSecret('audit-hmac-key', '');
  const config = loadConfig(env);

  const applied = await runMigrations({ url: config.database.migrateUrl });
  say(applied.length ? `migrations applied: ${applied.join(', ')}` : 'schema is up to date');
  // The demo's File targets deploy under here (one directory each), so a renewal in the demo really writes files:
  // this install's data directory is one of the allowed destination roots (unless the operator set the roots).
  const deployRoot = join(DATA_DIR, 'demo-deploy');
  env[ALLOWED_ROOTS_SETTING] ||= `${DEFAULT_ALLOWED_ROOTS},${deployRoot}`;
  if (seed && config.demoSeed) {
    for (const dir of ['edge', 'api']) mkdirSync(join(deployRoot, dir), { recursive: true });
    say(`demo inventory: ${await seedDemoInventory(config.database.url, deployRoot)} certificates added (File targets deploy under ${deployRoot})`);
  }
  if (embeddedPostgres) {
    // As in compose and k8s, the apps connect as certctl_app (append-only on the audit trail); the superuser that
    // created the schema is for migrations only.
    env.CERTCTL_DATABASE_URL = await appRoleUrl(config.database.url);
  }

  for (const app of APPS) children.push(startApp(app, env));
  await waitForReady(`http://${config.server.host}:${config.server.port}/ready`);

  const base = `http://${config.server.host}:${config.server.port}`;
  process.stdout.write(
    `\ncertctl is running\n` +
      `  Web console   ${base}/  (sign in with the admin key below)\n` +
      `  API           ${base}/api/v1\n` +
      `  OpenAPI docs  ${base}/api/docs\n` +
      `  Health        ${base}/health  ${base}/ready\n` +
      `  Workers       orchestrator :${config.workerPorts.orchestrator}  notifier :${config.workerPorts.notifier}  scanner :${config.workerPorts.scanner}\n` +
      `  CRL / OCSP    ${config.revocation.pkiBaseUrl}/.well-known/pki (also on the API origin; issued leaves point here)\n` +
      `  Admin key     ${env.CERTCTL_API_KEY}\n` +
      `  Try           curl -H "Authorization: Bearer ${env.CERTCTL_API_KEY}" ${base}/api/v1/certificates\n\n` +
      `Ctrl-C stops everything.\n`,
  );
}

/** A webhook receiver on loopback for the demo's alerts: one line per alert on this terminal. */
async function startAlertSink(): Promise<string> {
  const port = await freePort();
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body = (body + chunk).slice(0, 64 * 1024)));
    req.on('end', () => {
      try {
        const alert = JSON.parse(body) as { event_type?: string; severity?: string; title?: string; certificate?: { name?: string } | null };
        say(`alert [${alert.severity ?? 'info'}] ${alert.event_type ?? 'notification'}${alert.certificate?.name ? ` ${alert.certificate.name}` : ''}: ${alert.title ?? ''}`);
      } catch {
        say(`alert: ${body.slice(0, 200)}`);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  stops.push(() => new Promise<void>((done) => server.close(() => done())));
  say(`demo alerts are printed here (webhook sink on http://127.0.0.1:${port}/alerts)`);
  return `http://127.0.0.1:${port}/alerts`;
}

function say(message: string): void {
  process.stdout.write(`[start] ${message}\n`);
}

/** Lets the migrations' certctl_app role log in (password kept in .data/app-db-password) and returns its URL. */
async function appRoleUrl(ownerUrl: string): Promise<string> {
  const password = persistentSecret('app-db-password', '');
  const db = new Client({ connectionString: ownerUrl });
  await db.connect();
  try {
    await db.query(`ALTER ROLE ${APP_DATABASE_ROLE} LOGIN PASSWORD ${db.escapeLiteral(password)}`);
  } finally {
    await db.end();
  }
  const url = new URL(ownerUrl);
  url.username = APP_DATABASE_ROLE;
  url.password = password;
  return url.toString();
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const db = new Client({ connectionString: adminUrl });
  await db.connect();
  try {
    const { rowCount } = await db.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await db.query(`CREATE DATABASE ${name}`);
  } finally {
    await db.end();
  }
}

/** A secret of this laptop install: generated once, kept in .data/<name> (mode 0600). */
function persistentSecret(name: string, prefix: string): string {
  const file = join(DATA_DIR, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(DATA_DIR, { recursive: true });
  const key = `${prefix}${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}

function startApp(name: (typeof APPS)[number], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
    env: { ...env, CERTCTL_LOG_FORMAT: env.CERTCTL_LOG_FORMAT ?? 'pretty' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[${name}] ${line}\n`));
  }
  child.on('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`[start] ${name} exited (${signal ?? code}); stopping everything\n`);
    void shutdown(1);
  });
  return child;
}

async function waitForReady(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${url} was not ready after ${timeoutMs / 1000}s`);
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch(async (err: unknown) => {
  process.stderr.write(`[start] ${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  await shutdown(1);
});
