import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataSourceOptions } from '@certctl/db';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { budgetRemaining, IssuerBudget } from './issuer-budget';
import { RateLimit } from './rate-limits';

const MINUTE = 60_000;

/**
 * IssuerBudget on the real Redis and Postgres, with an injected clock: the sliding window, one budget shared by
 * two replicas racing, per-domain scopes taken all-or-nothing, and a Redis that lost its keys rebuilt from Postgres.
 */
describe('IssuerBudget (real Redis and Postgres, injected clock)', () => {
  let env: TestEnvironment;
  let ds: DataSource;
  const connections: Redis[] = [];
  let clock = 0;
  let issuerSeq = 0;

  const replica = () => {
    const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: 1 });
    connections.push(redis);
    return new IssuerBudget(redis, ds, env.queuePrefix, () => clock);
  };
  const newIssuer = async () => {
    const id = `iss-budget-${++issuerSeq}`;
    await ds.query(`INSERT INTO issuers (id, name, type, config) VALUES ($1, $1, 'local', '{}')`, [id]);
    return id;
  };
  const flushBudgetKeys = async () => {
    const redis = connections[0]!;
    const keys = await redis.keys(`${env.queuePrefix}:{budget:*`);
    if (keys.length) await redis.del(...keys);
    return keys.length;
  };
  const rows = async (issuerId: string) =>
    (await ds.query(`SELECT count(*)::int AS n FROM issuer_budget_spends WHERE issuer_id = $1`, [issuerId]))[0].n as number;

  beforeAll(async () => {
    env = await createTestEnvironment();
    ds = await new DataSource(dataSourceOptions({ url: env.databaseUrl })).initialize();
  });
  afterAll(async () => {
    connections.forEach((c) => c.disconnect());
    await ds?.destroy();
    await env?.destroy();
  });

  const perMinute: RateLimit[] = [{ name: 'orders', limit: 3, window_seconds: 60, per: 'account' }];

  it('grants the limit within the window, then refuses with the time the oldest slot frees, and grants again once it has', async () => {
    const issuer = await newIssuer();
    const budget = replica();
    clock = 1_000_000;
    for (let i = 0; i < 3; i++) {
      clock += 1000;
      expect(await budget.take(issuer, perMinute, ['a.example.com'], `job-${i}:1`)).toEqual({ granted: true });
    }
    clock += 1000;
    expect(await budget.take(issuer, perMinute, ['a.example.com'], 'job-3:1')).toEqual({ granted: false, freeAt: new Date(1_001_000 + MINUTE), limit: 'orders' });
    // The refused attempt leaves no slot behind in Postgres.
    expect(await rows(issuer)).toBe(3);
    clock = 1_001_000 + MINUTE - 1;
    expect((await budget.take(issuer, perMinute, ['a.example.com'], 'job-3:1')).granted).toBe(false);
    clock = 1_001_000 + MINUTE;
    expect(await budget.take(issuer, perMinute, ['a.example.com'], 'job-3:1')).toEqual({ granted: true });
    expect(await budget.take(issuer, perMinute, ['a.example.com'], 'job-4:1')).toEqual({ granted: false, freeAt: new Date(1_002_000 + MINUTE), limit: 'orders' });
  });

  it('two replicas taking 40 slots at once from one budget of 3 are granted exactly 3', async () => {
    const issuer = await newIssuer();
    const [a, b] = [replica(), replica()];
    clock = 5_000_000;
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take(issuer, perMinute, ['x.example.com'], `job-${i}:1`)));
    expect(decisions.filter((d) => d.granted)).toHaveLength(3);
    expect(await rows(issuer)).toBe(3);
  });

  it('waiters are woken in turn, a window apart per round of the limit, not all at the next freed slot', async () => {
    const issuer = await newIssuer();
    const [a, b] = [replica(), replica()];
    const t = 40_000_000;
    for (let i = 0; i < 3; i++) {
      clock = t + i * 1000;
      expect((await a.take(issuer, perMinute, ['a.example.com'], `granted-${i}:1`)).granted).toBe(true);
    }
    clock = t + 5000;
    const wakeAt = async (member: string, budget = a) => {
      const d = await budget.take(issuer, perMinute, ['a.example.com'], member);
      return d.granted ? 'granted' : d.freeAt.getTime() - t;
    };
    const waits = [];
    for (let i = 0; i < 8; i++) waits.push(await wakeAt(`waiter-${i}:1`, i % 2 ? a : b));
    expect(waits).toEqual([MINUTE, 1000 + MINUTE, 2000 + MINUTE, 2 * MINUTE, 1000 + 2 * MINUTE, 2000 + 2 * MINUTE, 3 * MINUTE, 1000 + 3 * MINUTE]);
    // Asking again keeps one's place.
    expect(await wakeAt('waiter-3:1')).toBe(2 * MINUTE);
    // At its time, the first waiter gets the slot; the next ones keep their times.
    clock = t + MINUTE;
    expect(await wakeAt('waiter-0:1')).toBe('granted');
    expect(await wakeAt('waiter-1:1')).toBe(1000 + MINUTE);
    expect(await wakeAt('waiter-3:1')).toBe(2 * MINUTE);
    clock = t + 1000 + MINUTE;
    expect(await wakeAt('waiter-1:1')).toBe('granted');
  });

  it('after Redis loses its windows, they are rebuilt from Postgres: nothing past the limit is granted', async () => {
    const issuer = await newIssuer();
    const budget = replica();
    for (let i = 0; i < 3; i++) {
      clock = 9_000_000 + i * 1000;
      expect((await budget.take(issuer, perMinute, ['a.example.com'], `job-${i}:1`)).granted).toBe(true);
    }
    expect(await flushBudgetKeys()).toBeGreaterThan(0);
    clock += 10_000;
    // A fresh replica after the flush: still full, and it knows when the first slot frees.
    expect(await replica().take(issuer, perMinute, ['a.example.com'], 'job-3:1')).toEqual({ granted: false, freeAt: new Date(9_000_000 + MINUTE), limit: 'orders' });
    clock = 9_000_000 + MINUTE;
    expect(await flushBudgetKeys()).toBeGreaterThan(0);
    expect((await budget.take(issuer, perMinute, ['a.example.com'], 'job-3:1')).granted).toBe(true);
    expect(await budget.take(issuer, perMinute, ['a.example.com'], 'job-4:1')).toEqual({ granted: false, freeAt: new Date(9_001_000 + MINUTE), limit: 'orders' });
  });

  it('a per-registered-domain limit counts each registered domain of a certificate, and takes all of them or none', async () => {
    const issuer = await newIssuer();
    const budget = replica();
    clock = 20_000_000;
    const perDomain: RateLimit[] = [{ name: 'per_domain', limit: 2, window_seconds: 3600, per: 'registered_domain' }];
    const take = (names: string[], member: string) => budget.take(issuer, perDomain, names, member).then((d) => d.granted);
    expect(await take(['a.example.com'], 'j1:1')).toBe(true);
    expect(await take(['b.example.com', '*.c.example.com'], 'j2:1')).toBe(true);
    expect(await take(['d.example.com'], 'j3:1')).toBe(false);
    // example.co.uk is its own registered domain (public suffix co.uk), not co.uk's.
    expect(await take(['a.example.co.uk', 'b.other.co.uk'], 'j4:1')).toBe(true);
    // example.com is full: the certificate waits and spends nothing of other.net.
    expect(await take(['x.other.net', 'e.example.com'], 'j5:1')).toBe(false);
    expect(await take(['y.other.net'], 'j6:1')).toBe(true);
    expect(await take(['z.other.net'], 'j7:1')).toBe(true);
    expect(await take(['w.other.net'], 'j8:1')).toBe(false);
    const remaining = await budgetRemaining(ds, [{ id: issuer, limits: perDomain }], clock);
    expect(remaining).toEqual([{ issuer_id: issuer, limit: 'per_domain', per: 'registered_domain', max: 2, remaining: 0 }]);
  });

  it('budgetRemaining counts the slots still inside each window', async () => {
    const issuer = await newIssuer();
    const budget = replica();
    clock = 30_000_000;
    const limits: RateLimit[] = [...perMinute, { name: 'hourly', limit: 10, window_seconds: 3600, per: 'account' }];
    for (let i = 0; i < 2; i++) expect((await budget.take(issuer, limits, ['a.example.com'], `j${i}:1`)).granted).toBe(true);
    expect(await budgetRemaining(ds, [{ id: issuer, limits }], clock)).toEqual([
      { issuer_id: issuer, limit: 'orders', per: 'account', max: 3, remaining: 1 },
      { issuer_id: issuer, limit: 'hourly', per: 'account', max: 10, remaining: 8 },
    ]);
    expect((await budgetRemaining(ds, [{ id: issuer, limits }], clock + MINUTE)).map((r) => r.remaining)).toEqual([3, 8]);
  });
});
