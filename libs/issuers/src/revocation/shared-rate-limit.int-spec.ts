import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { SharedRateLimit } from './shared-rate-limit';

const redisUrl = process.env.CERTCTL_TEST_REDIS_URL_RESOLVED!;

/** SharedRateLimit against the real Redis: exact on one replica, shared by two, and still deciding without Redis. */
describe('SharedRateLimit', () => {
  const connections: Redis[] = [];
  /** A connected client, or (`dead`) one that never connects and fails every command at once. */
  const connect = async (url = redisUrl, dead = false) => {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    redis.on('error', () => undefined);
    connections.push(redis);
    if (!dead) await redis.connect();
    return redis;
  };
  const prefix = () => `certctl-test-rl-${randomBytes(4).toString('hex')}`;
  afterAll(() => connections.forEach((c) => c.disconnect()));

  it('one replica is exact: the request past the limit and every one after it are refused; other clients are not', async () => {
    const limit = new SharedRateLimit(await connect(), prefix(), () => 5);
    const decisions = [];
    for (let i = 0; i < 8; i++) decisions.push(await limit.hit('10.0.0.1'));
    expect(decisions).toEqual([false, false, false, false, false, true, true, true]);
    expect(await limit.hit('10.0.0.2')).toBe(false);
  });

  it('two replicas share one count once they have synced', async () => {
    const key = prefix();
    const a = new SharedRateLimit(await connect(), key, () => 10);
    const b = new SharedRateLimit(await connect(), key, () => 10);
    for (let i = 0; i < 7; i++) expect(await a.hit('10.0.0.3')).toBe(false);
    await a.sync();
    // b reads a's 7 before it decides its first request: 8 of 10.
    expect(await b.hit('10.0.0.3')).toBe(false);
    await b.sync();
    expect([await b.hit('10.0.0.3'), await b.hit('10.0.0.3'), await b.hit('10.0.0.3')]).toEqual([false, false, true]);
    await b.sync();
    // a hears of b's counts when it next shares its own: one more request on its old view, then refused.
    expect(await a.hit('10.0.0.3')).toBe(false);
    await a.sync();
    expect(await a.hit('10.0.0.3')).toBe(true);
  });

  it('a replica meeting a client that another replica already holds over the limit refuses it from its first request (100 at once)', async () => {
    const key = prefix();
    const a = new SharedRateLimit(await connect(), key, () => 10);
    const b = new SharedRateLimit(await connect(), key, () => 10);
    for (let i = 0; i < 12; i++) await a.hit('10.0.0.6');
    await a.sync();
    const burst = await Promise.all(Array.from({ length: 100 }, () => b.hit('10.0.0.6')));
    expect(burst.filter((limited) => !limited)).toHaveLength(0);
  });

  it('without Redis it decides from its own counts and keeps them for when Redis is back', async () => {
    const deadPort = await freePort();
    const limit = new SharedRateLimit(await connect(`redis://127.0.0.1:${deadPort}`, true), prefix(), () => 3);
    expect([await limit.hit('10.0.0.4'), await limit.hit('10.0.0.4'), await limit.hit('10.0.0.4'), await limit.hit('10.0.0.4')]).toEqual([false, false, false, true]);
    await limit.sync();
    expect(await limit.hit('10.0.0.4')).toBe(true);
  });

  it('a limit of 0 turns it off', async () => {
    const limit = new SharedRateLimit(await connect(), prefix(), () => 0);
    expect((await Promise.all(Array.from({ length: 5 }, () => limit.hit('10.0.0.5')))).some(Boolean)).toBe(false);
  });
});
