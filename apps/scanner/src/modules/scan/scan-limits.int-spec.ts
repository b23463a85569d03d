import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ScanRateLimiter } from './scan-limits';

/** The per-scan rate limit on a real Redis, shared by two limiters as two replicas would share it. */
describe('ScanRateLimiter', () => {
  const redis = new Redis(process.env.CERTCTL_TEST_REDIS_URL_RESOLVED!, { maxRetriesPerRequest: 1 });
  afterAll(() => redis.disconnect());

  it('holds two replicas together to the scan rate', async () => {
    const key = `certctl-test-limiter-${randomBytes(4).toString('hex')}`;
    const replicas = [new ScanRateLimiter(redis, key, 100), new ScanRateLimiter(redis, key, 100)];
    const started = Date.now();
    // 150 connections at 100/s between them: about 1.5 s, however they split the work
    await Promise.all(replicas.map(async (limiter) => {
      for (let i = 0; i < 75; i++) await limiter.take();
    }));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_300);
    expect(elapsed).toBeLessThan(3_000);
    await redis.del(key);
  });
});
