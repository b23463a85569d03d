import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';

const VERSION = 1;
/** version (1) | issued at, ms since the epoch (6) | random (8) */
const BODY_BYTES = 15;
const MAC_BYTES = 16;
/** A nonce issued by a replica whose clock runs ahead is still accepted by one this far behind. */
const CLOCK_SKEW_MS = 30_000;

export type NonceCheck = { ok: true; body: string; remainingMs: number } | { ok: false; reason: string };

/**
 * Replay nonces (RFC 8555 §6.5) that cost nothing to hand out: a nonce is its issue time and random bytes,
 * MAC'd with a key every replica shares, so any replica checks one another issued without a lookup, and
 * new-nonce (or the Replay-Nonce on every answer) writes nothing. Single use is kept by recording only the nonces
 * that were USED, in Redis, for what remains of their lifetime: one key per authenticated request, gone 5 minutes
 * later at the most.
 */
export class NonceStore {
  /** The first key signs; every key verifies (rotation). */
  private readonly keys: Buffer[];

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    keys: Buffer[],
    private readonly ttlMs: () => number,
  ) {
    if (!keys.length) throw new Error('NonceStore needs at least one key');
    this.keys = keys;
  }

  /** Derives the MAC key from a configured secret, so the same secret used for something else never MACs nonces directly. */
  static deriveKey(secret: string | Buffer): Buffer {
    return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'certctl acme nonce v1', 32));
  }

  issue(now = Date.now()): string {
    const body = Buffer.alloc(BODY_BYTES);
    body.writeUInt8(VERSION, 0);
    body.writeUIntBE(now, 1, 6);
    randomBytes(8).copy(body, 7);
    return Buffer.concat([body, this.mac(this.keys[0]!, body)]).toString('base64url');
  }

  /** Whether the nonce is one of ours and still within its lifetime; no Redis, so forged or expired ones cost nothing. */
  check(nonce: string, now = Date.now()): NonceCheck {
    if (!/^[A-Za-z0-9_-]{42}$/.test(nonce)) return { ok: false, reason: 'not a nonce this server issued' };
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== BODY_BYTES + MAC_BYTES || raw.readUInt8(0) !== VERSION) return { ok: false, reason: 'not a nonce this server issued' };
    const body = raw.subarray(0, BODY_BYTES);
    const mac = raw.subarray(BODY_BYTES);
    if (!this.keys.some((key) => timingSafeEqual(this.mac(key, body), mac))) return { ok: false, reason: 'not a nonce this server issued' };
    const issuedAt = body.readUIntBE(1, 6);
    if (issuedAt > now + CLOCK_SKEW_MS) return { ok: false, reason: 'issued in the future' };
    const remainingMs = issuedAt + this.ttlMs() - now;
    if (remainingMs <= 0) return { ok: false, reason: 'expired' };
    return { ok: true, body: body.toString('base64url'), remainingMs };
  }

  /**
   * Marks a checked nonce used; true the first time on any replica. The record outlives the nonce by the clock
   * skew allowance, so a replica whose clock is behind cannot take it again after the record is gone.
   */
  async markUsed(checked: Extract<NonceCheck, { ok: true }>): Promise<boolean> {
    const set = await this.redis.set(`${this.prefix}:used:${checked.body}`, '1', 'PX', Math.ceil(checked.remainingMs) + CLOCK_SKEW_MS, 'NX');
    return set === 'OK';
  }

  /** check + markUsed: true once per nonce this server issued within its lifetime; false for reused, expired or made-up ones. */
  async consume(nonce: string, now = Date.now()): Promise<boolean> {
    const checked = this.check(nonce, now);
    return checked.ok && this.markUsed(checked);
  }

  private mac(key: Buffer, body: Buffer): Buffer {
    return createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);
  }
}
