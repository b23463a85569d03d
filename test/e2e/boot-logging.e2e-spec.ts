import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createTestEnvironment, freePort } from '@certctl/testing';
import { ApiSourceProcess } from '../support/api-source-process';

const ROOT = resolve(__dirname, '..', '..');
const REGISTER = resolve(ROOT, 'test', 'support', 'swc-register.cjs');
const API_MAIN = resolve(ROOT, 'apps', 'api', 'src', 'main.ts');

interface Run { child: ChildProcess; lines(): string[]; exited: Promise<number | null> }

function startApi(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['-r', REGISTER, API_MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', CERTCTL_SERVER_PORT: '0', CERTCTL_API_KEY: 'boot-logging-test-key-0001', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => (output += text));
  }
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, exited, lines: () => output.split('\n').filter((l) => l.trim() !== '') };
}

function parsed(lines: string[]): Array<Record<string, unknown>> {
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`not a JSON log line: ${line}`);
    }
  });
}

/** An unreachable PostgreSQL or Redis at boot is logged as structured lines, one per retry, never as raw stacks. */
describe('boot with an unreachable dependency', () => {
  it('retries the database with one JSON line per attempt, then exits 1 with one fatal line', async () => {
    const deadPort = await freePort();
    const run = startApi({
      CERTCTL_DATABASE_URL: `postgres://postgres@127.0.0.1:${deadPort}/certctl`,
      CERTCTL_REDIS_URL: process.env.CERTCTL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      CERTCTL_STARTUP_RETRIES: '3',
      CERTCTL_STARTUP_RETRY_DELAY: '100ms',
    });
    const code = await Promise.race([run.exited, sleep(60_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') run.child.kill('SIGKILL');
    expect(code).toBe(1);
    const lines = run.lines();
    const records = parsed(lines);
    const attempts = records.filter((r) => r.dependency === 'database' && typeof r.attempt === 'number');
    expect(attempts.map((r) => [r.attempt, r.of, r.code, r.level])).toEqual([
      [1, 3, 'ECONNREFUSED', 40],
      [2, 3, 'ECONNREFUSED', 40],
      [3, 3, 'ECONNREFUSED', 50],
    ]);
    const fatal = records.filter((r) => r.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(/database unreachable after 3 attempts/);
    expect(lines.join('\n')).not.toMatch(/\n\s+at |\\n\s+at /);
  }, 90_000);

  it('keeps running without Redis and reports it in JSON lines, without stack dumps', async () => {
    const deadPort = await freePort();
    // A migrated database of its own (the api reads its permission catalogue at boot), and no Redis.
    const env = await createTestEnvironment();
    const run = startApi({ CERTCTL_DATABASE_URL: env.databaseUrl, CERTCTL_REDIS_URL: `redis://127.0.0.1:${deadPort}` });
    try {
      const deadline = Date.now() + 45_000;
      while (!run.lines().some((l) => l.includes('api listening')) && Date.now() < deadline) {
        if (run.child.exitCode !== null) break;
        await sleep(100);
      }
      await sleep(3_500); // a retry window or two of reconnects by the queues and the client
      const lines = run.lines();
      const records = parsed(lines);
      expect(records.some((r) => r.msg === 'api listening on http://127.0.0.1:0' || String(r.msg).startsWith('api listening'))).toBe(true);
      const redis = records.filter((r) => r.dependency === 'redis');
      expect(redis.length).toBeGreaterThanOrEqual(1);
      expect(redis.every((r) => r.code === 'ECONNREFUSED' && r.level === 40)).toBe(true);
      expect(lines.join('\n')).not.toMatch(/\n\s+at |\\n\s+at |Unhandled error event/);
    } finally {
      run.child.kill('SIGKILL');
      await run.exited;
      await env.destroy();
    }
  }, 90_000);
});

/** A Local CA without CERTCTL_PKI_BASE_URL issues leaves no TLS client can check for revocation: the boot log says so. */
describe('boot warning about where revocation lives', () => {
  it('warns when CERTCTL_PKI_BASE_URL is unset, and not when it is set', async () => {
    for (const [pkiBaseUrl, warned] of [['', true], ['https://pki.example.com', false]] as const) {
      const api = await ApiSourceProcess.start({ CERTCTL_LOG_LEVEL: 'warn', CERTCTL_PKI_BASE_URL: pkiBaseUrl });
      // Logs are written asynchronously: read them once the process has stopped and its output is closed.
      await api.stop();
      expect(api.logs().includes('CERTCTL_PKI_BASE_URL is not set: certificates issued by a Local CA carry no CRL distribution point'), pkiBaseUrl).toBe(warned);
    }
  }, 180_000);
});
