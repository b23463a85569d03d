import type { Redis } from 'ioredis';

/** RFC 8555 tokens are base64url; anything else is refused before it reaches Redis. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export function isChallengeToken(token: string): boolean {
  return TOKEN.test(token);
}

/**
 * http-01 key authorizations, kept in Redis by token with a TTL, so whichever replica (orchestrator responder
 * or api route) the CA's validation request reaches can answer it.
 */
export class AcmeChallengeStore {
  constructor(
    private readonly redis: Redis,
    /** CERTCTL_QUEUE_PREFIX, so deployments (and test files) sharing a Redis stay apart. */
    private readonly prefix: string,
    private readonly ttlSeconds = 3600,
  ) {}

  private key(token: string): string {
    return `${this.prefix}:acme:http-01:${token}`;
  }

  async put(token: string, keyAuthorization: string): Promise<void> {
    if (!isChallengeToken(token)) throw new Error('the CA sent a malformed http-01 token');
    await this.redis.set(this.key(token), keyAuthorization, 'EX', this.ttlSeconds);
  }

  /** The key authorization for the token, or undefined (unknown, expired or malformed token). */
  async get(token: string): Promise<string | undefined> {
    if (!isChallengeToken(token)) return undefined;
    return (await this.redis.get(this.key(token))) ?? undefined;
  }

  async remove(token: string): Promise<void> {
    if (!isChallengeToken(token)) return;
    await this.redis.del(this.key(token));
  }
}
