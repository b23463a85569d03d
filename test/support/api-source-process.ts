import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestEnvironment, freePort, TestEnvironment } from '@certctl/testing';

const ROOT = resolve(__dirname, '..', '..');
const REGISTER = resolve(__dirname, 'swc-register.cjs');
const API_MAIN = resolve(ROOT, 'apps', 'api', 'src', 'main.ts');

/**
 * The real api as a child process from its TypeScript sources (compiled on the fly by swc), on this test
 * file's own database and queue prefix, listening on a free loopback port. For tests that cannot host Nest in
 * their own process, such as the web console's component tests under jsdom.
 */
export class ApiSourceProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly env: TestEnvironment,
    readonly baseUrl: string,
    readonly adminKey: string,
  ) {
    // 'close' comes after the exit and after the last of its output has been read.
    this.exited = new Promise((done) => child.once('close', () => done()));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => (this.output = (this.output + text).slice(-20_000)));
    }
  }

  static async start(extraEnv: Record<string, string> = {}, timeoutMs = 90_000): Promise<ApiSourceProcess> {
    const env = await createTestEnvironment();
    const port = await freePort();
    const adminKey = `test-admin-${randomBytes(12).toString('hex')}`;
    const child = spawn(process.execPath, ['-r', REGISTER, API_MAIN], {
      cwd: ROOT,
      env: {
        ...process.env, ...env.env, CERTCTL_API_KEY: adminKey, CERTCTL_AUTH_TYPE: 'api-key',
        CERTCTL_SERVER_HOST: '127.0.0.1', CERTCTL_SERVER_PORT: String(port), CERTCTL_READ_CACHE_TTL: '1ms', ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const api = new ApiSourceProcess(child, env, `http://127.0.0.1:${port}`, adminKey);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`api exited before it was ready:\n${api.output}`);
      if (Date.now() > deadline) throw new Error(`api not ready after ${timeoutMs} ms:\n${api.output}`);
      try {
        if ((await fetch(`${api.baseUrl}/ready`)).ok) return api;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
  }

  /** A JSON call with the admin key (or `key`), for setting up what a test needs. */
  async call<T>(method: string, path: string, body?: unknown, key = this.adminKey): Promise<T> {
    const res = await fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** A new API key of this role; returns its secret. */
  async createKey(role: string): Promise<string> {
    const created = await this.call<{ key: string }>('POST', '/auth/keys', { name: `${role}-${randomBytes(4).toString('hex')}`, role });
    return created.key;
  }

  logs(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      if (await Promise.race([this.exited.then(() => false), sleep(10_000).then(() => true)])) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    await this.env.destroy();
  }
}
