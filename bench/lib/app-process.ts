import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@certctl/testing';
import { httpGet } from './http-load';

const OUTPUT_TAIL_LINES = 40;

/** The env variable that sets each app's HTTP port (the api's API, the workers' /health, /ready, /metrics). */
const PORT_VARIABLE = {
  api: 'CERTCTL_SERVER_PORT',
  orchestrator: 'CERTCTL_ORCHESTRATOR_PORT',
  notifier: 'CERTCTL_NOTIFIER_PORT',
  scanner: 'CERTCTL_SCANNER_PORT',
  responder: 'CERTCTL_RESPONDER_PORT',
} as const;
export type AppName = keyof typeof PORT_VARIABLE;

/** A running built app (`node dist/apps/<name>/src/main.js`) on a free port, and its recent output for errors. */
export class AppProcess {
  private readonly tail: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: AppName,
    private readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {
    this.exited = new Promise((done) => child.once('exit', () => done()));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => this.remember(text));
    }
  }

  /**
   * Starts the app with the given environment (added to this process's) on a free loopback port; `script` (a
   * path) replaces the app's main, e.g. a bench-only entry that wraps it.
   */
  static async start(name: AppName, env: Record<string, string>, script?: string): Promise<AppProcess> {
    const port = await freePort();
    // Relative to dist/bench/lib.
    const main = script ?? resolve(__dirname, '..', '..', 'apps', name, 'src', 'main.js');
    // BENCH_APP_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the app under the bench's load.
    const nodeArgs = (process.env.BENCH_APP_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, main], {
      env: { ...process.env, ...env, CERTCTL_SERVER_HOST: '127.0.0.1', [PORT_VARIABLE[name]]: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new AppProcess(name, child, `http://127.0.0.1:${port}`);
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
        throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before it was ready:\n${this.output()}`);
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
    throw new Error(`${this.name} not ready after ${timeoutMs} ms (last: ${last}):\n${this.output()}`);
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

