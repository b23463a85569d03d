import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { NonceStore } from './nonce-store';

const TTL = 5 * 60_000;
const key = (s: string) => NonceStore.deriveKey(s.padEnd(32, '.'));
/** No Redis: check() must decide without it (issue() never touches it either). */
const noRedis = new Proxy({}, { get: () => { throw new Error('Redis touched'); } }) as Redis;
const store = (...keys: Buffer[]) => new NonceStore(noRedis, 'p', keys, () => TTL);

describe('NonceStore (stateless nonces)', () => {
  const now = Date.UTC(2026, 11, 6, 9, 0, 0);

  it('accepts its own nonce within its lifetime, with the time that remains', () => {
    const s = store(key('a'));
    const nonce = s.issue(now);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{42}$/);
    expect(s.check(nonce, now + 1000)).toMatchObject({ ok: true, remainingMs: TTL - 1000 });
    expect(s.issue(now)).not.toBe(nonce);
  });

  it('refuses an expired nonce, one from the far future, and one past its lifetime by a millisecond', () => {
    const s = store(key('a'));
    expect(s.check(s.issue(now), now + TTL)).toEqual({ ok: false, reason: 'expired' });
    expect(s.check(s.issue(now), now + TTL - 1).ok).toBe(true);
    expect(s.check(s.issue(now + 60_000), now)).toEqual({ ok: false, reason: 'issued in the future' });
  });

  it('refuses forged nonces: another key, a flipped bit, a moved issue time, junk', () => {
    const s = store(key('a'));
    const other = store(key('b')).issue(now);
    expect(s.check(other, now).ok).toBe(false);
    const raw = Buffer.from(s.issue(now), 'base64url');
    for (const i of [0, 3, 10, 20]) {
      const flipped = Buffer.from(raw);
      flipped[i] ^= 1;
      expect(s.check(flipped.toString('base64url'), now).ok, `byte ${i}`).toBe(false);
    }
    for (const junk of ['', 'made-up-nonce', 'A'.repeat(42), 'A'.repeat(43), '../../etc/passwd'.padEnd(42, 'x')]) {
      expect(s.check(junk, now).ok, junk).toBe(false);
    }
  });

  it('verifies with every configured key and signs with the first (rotation)', () => {
    const before = store(key('old'));
    const during = store(key('new'), key('old'));
    const after = store(key('new'));
    const old = before.issue(now);
    expect(during.check(old, now).ok).toBe(true);
    expect(after.check(old, now).ok).toBe(false);
    expect(after.check(during.issue(now), now).ok).toBe(true);
  });

  it('the same secret gives every replica the same key', () => {
    expect(store(NonceStore.deriveKey('x'.repeat(32))).check(store(NonceStore.deriveKey('x'.repeat(32))).issue(now), now).ok).toBe(true);
  });
});
