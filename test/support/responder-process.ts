import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(__dirname, '..', '..');
const REGISTER = resolve(__dirname, 'swc-register.cjs');
const RESPONDER_MAIN = resolve(ROOT, 'apps', 'responder', 'src', 'main.ts');

/** apps/responder as a real child process (TypeScript compiled on the fly by swc), so a test can SIGKILL it. */
export class ResponderProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((done) => child.once('exit', () => done()));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => (this.output = (this.output + text).slice(-20_000)));
    }
  }

  static async start(env: Record<string, string>, port: number, timeoutMs = 30_000): Promise<ResponderProcess> {
    const child = spawn(process.execPath, ['-r', REGISTER, RESPONDER_MAIN], {
      cwd: ROOT,
      env: { ...process.env, ...env, CERTCTL_SERVER_HOST: '127.0.0.1', CERTCTL_RESPONDER_PORT: String(port), CERTCTL_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const responder = new ResponderProcess(child);
    const deadline = Date.now() + timeoutMs;
    while (!responder.output.includes('responder ready')) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`responder exited before it was ready:\n${responder.output}`);
      if (Date.now() > deadline) throw new Error(`responder not ready after ${timeoutMs} ms:\n${responder.output}`);
      await sleep(50);
    }
    return responder;
  }

  /** No goodbye: the process dies mid-request, as in a crash or an OOM kill. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    if (await Promise.race([this.exited.then(() => false), sleep(10_000).then(() => true)])) await this.kill();
  }
}
