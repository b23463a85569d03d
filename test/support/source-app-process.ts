import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(__dirname, '..', '..');
const REGISTER = resolve(__dirname, 'swc-register.cjs');

/**
 * A Nest app (`apps/<app>/src/main.ts`) as a real child process, its TypeScript compiled on the fly by swc: replicas
 * run on their own threads rather than the test's, and a test can SIGKILL one mid-job. Ready once it logs
 * "<app> ready".
 */
export class SourceAppProcess {
  private output = '';
  private readonly exited: Promise<void>;
  /** How the process ended: its exit code, or the signal that killed it. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(private readonly child: ChildProcess) {
    this.exit = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
    this.exited = this.exit.then(() => undefined);
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => (this.output = (this.output + text).slice(-20_000)));
    }
  }

  static async start(app: 'notifier' | 'scanner' | 'responder' | 'orchestrator', env: Record<string, string>, timeoutMs = 60_000): Promise<SourceAppProcess> {
    const child = spawn(process.execPath, ['-r', REGISTER, resolve(ROOT, 'apps', app, 'src', 'main.ts')], {
      cwd: ROOT,
      // info: readiness is read from the "<app> ready" log line.
      env: { ...process.env, ...env, CERTCTL_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = new SourceAppProcess(child);
    const deadline = Date.now() + timeoutMs;
    while (!started.output.includes(`${app} ready`)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${app} exited before it was ready:\n${started.output}`);
      if (Date.now() > deadline) throw new Error(`${app} not ready after ${timeoutMs} ms:\n${started.output}`);
      await sleep(50);
    }
    return started;
  }

  /** No goodbye: the process dies mid-job, as in a crash or an OOM kill. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Sends a signal and leaves the rest to the caller (see `exit`). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    if (await Promise.race([this.exited.then(() => false), sleep(10_000).then(() => true)])) await this.kill();
  }

  logs(): string {
    return this.output;
  }
}
