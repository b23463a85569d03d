import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(__dirname, '..', '..');
const REGISTER = resolve(__dirname, 'swc-register.cjs');
const NOTIFIER_MAIN = resolve(ROOT, 'apps', 'notifier', 'src', 'main.ts');

/**
 * The notifier as a real child process (its TypeScript compiled on the fly by swc), so a test can SIGKILL it
 * mid-delivery. Ready once it logs "notifier ready".
 */
export class NotifierProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((done) => child.once('exit', () => done()));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => (this.output = (this.output + text).slice(-20_000)));
    }
  }

  static async start(env: Record<string, string>, timeoutMs = 30_000): Promise<NotifierProcess> {
    const child = spawn(process.execPath, ['-r', REGISTER, NOTIFIER_MAIN], {
      cwd: ROOT,
      env: { ...process.env, ...env, CERTCTL_NOTIFIER_PORT: '0', CERTCTL_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const notifier = new NotifierProcess(child);
    const deadline = Date.now() + timeoutMs;
    while (!notifier.output.includes('notifier ready')) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`notifier exited before it was ready:\n${notifier.output}`);
      if (Date.now() > deadline) throw new Error(`notifier not ready after ${timeoutMs} ms:\n${notifier.output}`);
      await sleep(50);
    }
    return notifier;
  }

  /** No goodbye: the process dies mid-job, as in a crash or an OOM kill. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    if (await Promise.race([this.exited.then(() => false), sleep(10_000).then(() => true)])) await this.kill();
  }

  logs(): string {
    return this.output;
  }
}
