import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(__dirname, '..', '..');
const REGISTER = resolve(__dirname, 'swc-register.cjs');
const SCANNER_MAIN = resolve(ROOT, 'apps', 'scanner', 'src', 'main.ts');

/**
 * The scanner as a real child process (TypeScript compiled on the fly by swc), so replicas run on their own
 * threads rather than sharing the test's. Ready once it logs "scanner ready".
 */
export class ScannerProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((done) => child.once('exit', () => done()));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (text: string) => (this.output = (this.output + text).slice(-20_000)));
    }
  }

  static async start(env: Record<string, string>, timeoutMs = 60_000): Promise<ScannerProcess> {
    const child = spawn(process.execPath, ['-r', REGISTER, SCANNER_MAIN], {
      cwd: ROOT,
      env: { ...process.env, ...env, CERTCTL_SCANNER_PORT: '0', CERTCTL_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const scanner = new ScannerProcess(child);
    const deadline = Date.now() + timeoutMs;
    while (!scanner.output.includes('scanner ready')) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`scanner exited before it was ready:\n${scanner.output}`);
      if (Date.now() > deadline) throw new Error(`scanner not ready after ${timeoutMs} ms:\n${scanner.output}`);
      await sleep(50);
    }
    return scanner;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    if (await Promise.race([this.exited.then(() => false), sleep(10_000).then(() => true)])) this.child.kill('SIGKILL');
    await this.exited;
  }

  logs(): string {
    return this.output;
  }
}
