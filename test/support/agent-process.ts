import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_DEPLOY_ENV } from '@certctl/testing';

const ROOT = resolve(__dirname, '..', '..');
let bundled: Promise<string> | undefined;

/**
 * The agent as it ships: `npm run build:agent`'s esbuild bundle, built once per test process into a temp
 * directory and run with plain `node`, so the tests exercise the packaged file.
 */
export function agentBundle(): Promise<string> {
  bundled ??= (async () => {
    const { bundleAgent } = (await import(resolve(ROOT, 'apps', 'agent', 'build', 'bundle.mjs'))) as { bundleAgent(out: string): Promise<string> };
    return bundleAgent(join(mkdtempSync(join(tmpdir(), 'certctl-agent-bundle-')), 'certctl-agent.js'));
  })();
  return bundled;
}

/** A real agent process; its output is kept for assertions and failure messages. */
export class AgentProcess {
  private output = '';
  private stderrText = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => (this.output = (this.output + text).slice(-200_000)));
    child.stderr?.on('data', (text: string) => {
      this.output = (this.output + text).slice(-200_000);
      this.stderrText = (this.stderrText + text).slice(-20_000);
    });
  }

  static async start(env: Record<string, string>, args: string[] = []): Promise<AgentProcess> {
    const bundle = await agentBundle();
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CERTCTL_')));
    // The host administrator's deploy policy of the tests (temp directories and the fixtures' commands allowed).
    const child = spawn(process.execPath, [bundle, ...args], { cwd: ROOT, env: { ...clean, ...TEST_DEPLOY_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    return new AgentProcess(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    return this.output;
  }

  stderr(): string {
    return this.stderrText;
  }

  /** Parsed JSON log lines. */
  events(): Array<Record<string, any>> {
    return this.output.split('\n').filter((l) => l.startsWith('{')).map((l) => {
      try {
        return JSON.parse(l) as Record<string, any>;
      } catch {
        return {};
      }
    });
  }

  async waitForLog(text: string | RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = () => (typeof text === 'string' ? this.output.includes(text) : text.test(this.output));
    while (!found()) {
      if (Date.now() > deadline) throw new Error(`agent did not log ${text} within ${timeoutMs} ms:\n${this.output.slice(-4000)}`);
      if (!this.running) throw new Error(`agent exited before logging ${text}:\n${this.output.slice(-4000)}`);
      await sleep(50);
    }
  }

  /** No goodbye: the process dies wherever it is, as in a crash or an OOM kill. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill('SIGTERM');
    const result = await Promise.race([this.exited, sleep(15_000).then(() => undefined)]);
    if (!result) {
      await this.kill();
      throw new Error(`agent did not stop within 15 s of SIGTERM:\n${this.output.slice(-4000)}`);
    }
    return result;
  }
}
