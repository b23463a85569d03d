import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet } from './http-load';

/** The built orchestrator entry point, relative to dist/bench/lib. */
const ORCHESTRATOR_MAIN = resolve(__dirname, '..', '..', 'apps', 'orchestrator', 'src', 'main.js');
const OUTPUT_TAIL_LINES = 40;

/**
 * A running `node dist/apps/orchestrator/src/main.js` child (issuance worker, sweeps, ACME responder) and its
 * recent output. Its /ready listener is put on a free port (CERTCTL_ORCHESTRATOR_PORT).
 */
export class OrchestratorProcess {
  private readonly tail: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {
    this.exited = new Promise((done) => child.once('exit', () => done()));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => this.remember(text));
    }
  }

  /** Starts the orchestrator with the given environment (added to this process's). */
  static async start(env: Record<string, string>): Promise<OrchestratorProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, [ORCHESTRATOR_MAIN], {
      env: { ...process.env, ...env, CERTCTL_SERVER_HOST: '127.0.0.1', CERTCTL_ORCHESTRATOR_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new OrchestratorProcess(child, `http://127.0.0.1:${port}`);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Polls GET /ready until it answers 200; fails early if the process exits. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`orchestrator exited (${this.child.exitCode ?? this.child.signalCode}) before it was ready:\n${this.output()}`);
      }
      try {
        const res = await httpGet(this.baseUrl, '/ready', {}, undefined, 2_000);
        if (res.status === 200) return;
        last = `HTTP ${res.status} ${res.body}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await sleep(250);
    }
    throw new Error(`orchestrator not ready after ${timeoutMs} ms (last: ${last}):\n${this.output()}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. Safe to call twice. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** Last resort from a synchronous 'exit' handler. */
  killNow(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  output(): string {
    return this.tail.join('\n');
  }

  private remember(text: string): void {
    this.tail.push(...text.split('\n').filter((line) => line.trim() !== ''));
    if (this.tail.length > OUTPUT_TAIL_LINES) this.tail.splice(0, this.tail.length - OUTPUT_TAIL_LINES);
  }
}

/** A TCP port nothing listens on right now (asked of the kernel, then released). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? done(port) : fail(new Error('could not get a free port'))));
    });
  });
}
