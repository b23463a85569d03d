import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { REDIS } from '@certctl/db';
import { TransportError } from '@certctl/deploy';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Locks shared by every orchestrator replica: one Redis key per name, taken with SET NX PX and a random token,
 * released only by its holder. Names are taken in sorted order, so two deployments cannot deadlock; the TTL
 * frees the lock of a replica that died holding it.
 */
@Injectable()
export class RedisLocks {
  private readonly prefix: string;

  constructor(@Inject(REDIS) private readonly redis: Redis, @Inject(APP_CONFIG) config: AppConfig) {
    this.prefix = `${config.redis.queuePrefix}:deploy-lock:`;
  }

  async acquire(names: string[], options: { ttlMs?: number; waitMs?: number } = {}): Promise<() => Promise<void>> {
    const ttlMs = options.ttlMs ?? 10 * 60_000;
    const deadline = Date.now() + (options.waitMs ?? 10 * 60_000);
    const token = randomBytes(12).toString('hex');
    const held: string[] = [];
    const release = async () => {
      for (const key of held.reverse()) await this.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    };
    try {
      for (const name of [...new Set(names)].sort()) {
        const key = this.prefix + name;
        let delay = 10;
        while ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
          if (Date.now() > deadline) throw new TransportError(`timed out waiting for the deploy lock on ${name}`);
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 250);
        }
        held.push(key);
      }
    } catch (err) {
      await release();
      throw err;
    }
    return release;
  }
}
