import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Replay nonces (RFC 8555 §6.5) in Redis, so any replica accepts a nonce another one issued: each is a key with a
 * TTL, and using it deletes the key, so it is good once. Nothing else is written per request.
 */
export class NonceStore {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlMs: () => number) {}

  async issue(): Promise<string> {
    const nonce = randomBytes(16).toString('base64url');
    await this.redis.set(`${this.prefix}:${nonce}`, '1', 'PX', this.ttlMs());
    return nonce;
  }

  /** True once per nonce this server issued within its TTL; false for reused, expired or made-up ones. */
  async consume(nonce: string): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return false;
    return (await this.redis.del(`${this.prefix}:${nonce}`)) === 1;
  }
}
