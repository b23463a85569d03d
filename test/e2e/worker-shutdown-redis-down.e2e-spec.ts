import { ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnvironment, freePort, TestEnvironment } from '@certctl/testing';
import { SourceAppProcess } from '../support/source-app-process';

/** A Redis of this test's own, so it can be taken away from the worker without touching anyone else's. */
async function startPrivateRedis(port: number): Promise<ChildProcess> {
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ping = spawn('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    ping.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((done) => ping.once('exit', done));
    if (out.includes('PONG')) return redis;
    if (Date.now() > deadline) throw new Error('private redis-server did not start');
    await sleep(50);
  }
}

/**
 * A worker whose Redis has gone away still stops on SIGTERM: BullMQ's close would wait for a connection that never
 * comes, so the shutdown has a deadline (CERTCTL_SHUTDOWN_TIMEOUT), after which the process says so in one JSON
 * line and exits 1 — Kubernetes would otherwise wait out its grace period and SIGKILL it silently.
 */
describe('worker shutdown with Redis down', () => {
  let env: TestEnvironment;
  let redis: ChildProcess | undefined;
  let worker: SourceAppProcess | undefined;

  beforeAll(async () => {
    env = await createTestEnvironment();
  });
  afterAll(async () => {
    await worker?.kill();
    redis?.kill('SIGKILL');
    await env?.destroy();
  });

  it('the notifier exits within its shutdown deadline after Redis died, with one structured line saying why', { timeout: 60_000 }, async () => {
    const redisPort = await freePort();
    redis = await startPrivateRedis(redisPort);
    worker = await SourceAppProcess.start('notifier', {
      ...env.env, CERTCTL_REDIS_URL: `redis://127.0.0.1:${redisPort}`, CERTCTL_NOTIFIER_PORT: '0', CERTCTL_SHUTDOWN_TIMEOUT: '3s',
    });
    redis.kill('SIGKILL');
    await new Promise((done) => redis!.once('exit', done));
    await sleep(500);

    const signalledAt = Date.now();
    worker.signal('SIGTERM');
    const exit = await Promise.race([worker.exit, sleep(20_000).then(() => 'still running' as const)]);
    const tookMs = Date.now() - signalledAt;
    expect(exit, worker.logs()).toEqual({ code: 1, signal: null });
    expect(tookMs).toBeGreaterThanOrEqual(2_500);
    expect(tookMs).toBeLessThan(10_000);
    const line = worker.logs().split('\n').find((l) => l.includes('shutdown did not finish'));
    expect(line, worker.logs()).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 50, timeoutMs: 3000 });
  });
});
