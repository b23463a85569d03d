import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@certctl/config';
import { apply, LeaseLostError } from '@certctl/deploy';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { RedisLocks } from './redis-locks';

/** The per-target deploy lock against real Redis: a short lease renewed while held, and a fencing token. */
describe('RedisLocks (deploy lock lease and fencing)', () => {
  let env: TestEnvironment;
  let redis: Redis;
  let dir: string;
  const replicas: Array<{ locks: RedisLocks; client: Redis }> = [];

  /** One orchestrator replica's lock service, on a connection of its own. */
  function replica(): RedisLocks {
    const client = new Redis(env.redisUrl);
    const locks = new RedisLocks(client, loadConfig({ ...process.env, ...env.env }));
    replicas.push({ locks, client });
    return locks;
  }

  beforeAll(async () => {
    env = await createTestEnvironment();
    redis = new Redis(env.redisUrl);
    dir = mkdtempSync(join(tmpdir(), 'deploy-lock-'));
  });
  afterAll(async () => {
    for (const { locks, client } of replicas) {
      await locks.onModuleDestroy();
      client.disconnect();
    }
    redis?.disconnect();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await env?.destroy();
  });

  it('a holder that died (stopped renewing) is superseded within the lease, not after ten minutes', async () => {
    const crashed = replica();
    await crashed.acquire(['target:crash'], { leaseMs: 1_000 });
    // The replica dies holding the lock: its connection closes, so nothing renews the lease any more.
    await crashed.onModuleDestroy();

    const started = Date.now();
    const next = await replica().acquire(['target:crash'], { leaseMs: 1_000, waitMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(2_500);
    await next.confirm();
    await next.release();
  });

  it('a slow deploy keeps its lock well past the lease, because the lease is renewed while it runs', async () => {
    const slow = await replica().acquire(['target:slow'], { leaseMs: 600 });
    // Another replica waits three leases and more for it, in vain.
    await expect(replica().acquire(['target:slow'], { leaseMs: 600, waitMs: 2_000 })).rejects.toThrow(/timed out waiting for the deploy lock on target:slow/);
    await slow.confirm();
    await slow.release();
    // Released by its holder: free at once.
    const after = await replica().acquire(['target:slow'], { waitMs: 0 });
    expect(after.fence).toBeGreaterThan(slow.fence);
    await after.release();
  });

  it('a holder whose lease was lost is refused at the fencing check and writes nothing', async () => {
    const prefix = `${env.queuePrefix}:deploy-lock:`;
    const stale = await replica().acquire(['target:fenced']);
    await stale.extend(['path:/etc/ssl/x.pem']);
    // Its lease is gone (Redis lost the key, or it expired during a long pause) and another replica took the target.
    await redis.del(`${prefix}target:fenced`);
    const current = await replica().acquire(['target:fenced'], { waitMs: 0 });
    expect(current.fence).toBeGreaterThan(stale.fence);
    await expect(stale.confirm()).rejects.toBeInstanceOf(LeaseLostError);
    await current.confirm();

    // The stale holder's deploy stops before its files go live: no destination, no temp file, no backup.
    const cert = join(dir, 'fenced.pem');
    await expect(apply({ files: [{ path: cert, content: 'NEW' }], fence: () => stale.confirm() }))
      .rejects.toThrow(/deploy lock on target:fenced lost \(fencing token \d+\).*nothing was committed/);
    expect(existsSync(cert)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    // Releasing the stale holder does not free the current holder's lock.
    await stale.release();
    expect(await redis.get(`${prefix}target:fenced`)).not.toBeNull();
    await current.release();
    expect(await redis.get(`${prefix}target:fenced`)).toBeNull();
  });

  it('a lease whose key simply expired is refused too, even with nobody else holding the target', async () => {
    const holder = await replica().acquire(['target:expired'], { leaseMs: 60_000 });
    await redis.del(`${env.queuePrefix}:deploy-lock:target:expired`);
    await expect(holder.confirm()).rejects.toThrow(/ran out or was removed/);
    await holder.release();
  });
});
