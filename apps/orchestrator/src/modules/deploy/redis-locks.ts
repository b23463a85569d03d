import { randomBytes } from 'node:crypto';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { REDIS } from '@certctl/db';
import { TransportError } from '@certctl/deploy';

/** All or none: every key is free (or already ours) and is set with our token, or the first busy key's index is returned. */
const ACQUIRE = `
for i, key in ipairs(KEYS) do
  local holder = redis.call('get', key)
  if holder and holder ~= ARGV[1] then return i end
end
for _, key in ipairs(KEYS) do redis.call('set', key, ARGV[1], 'PX', ARGV[2]) end
return 0`;

/** Deletes the keys that still hold our token (a key whose TTL ran out may belong to someone else by now). */
const RELEASE = `
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then released = released + redis.call('del', key) end
end
return released`;

/** Locks held under one token: more names can be added, and all are released together. */
export interface HeldLocks {
  /** Takes more names under the same token (one round trip when they are free). */
  extend(names: string[]): Promise<void>;
  /** Releases every name taken (one round trip). */
  release(): Promise<void>;
}

/**
 * Locks shared by every orchestrator replica: one Redis key per name, taken with a random token by a script
 * that sets all the names or none (so two deployments cannot deadlock, and a free set costs one round trip),
 * and released only by its holder. The TTL frees the locks of a replica that died holding them. The locks have a
 * connection of their own that auto-pipelines: the scripts of jobs running at the same time go out in one write.
 */
@Injectable()
export class RedisLocks implements OnModuleDestroy {
  private readonly prefix: string;
  private readonly redis: Redis;

  constructor(@Inject(REDIS) shared: Redis, @Inject(APP_CONFIG) config: AppConfig) {
    this.prefix = `${config.redis.queuePrefix}:deploy-lock:`;
    this.redis = shared.duplicate({ enableAutoPipelining: true });
  }

  async onModuleDestroy(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  async acquire(names: string[], options: { ttlMs?: number; waitMs?: number } = {}): Promise<HeldLocks> {
    const ttlMs = options.ttlMs ?? 10 * 60_000;
    const waitMs = options.waitMs ?? 10 * 60_000;
    const token = randomBytes(12).toString('hex');
    const held = new Set<string>();
    const take = async (more: string[]) => {
      const keys = [...new Set(more.map((n) => this.prefix + n))].filter((k) => !held.has(k));
      if (!keys.length) return;
      const deadline = Date.now() + waitMs;
      let delay = 10;
      for (;;) {
        const busy = Number(await this.redis.eval(ACQUIRE, keys.length, ...keys, token, ttlMs));
        if (busy === 0) break;
        if (Date.now() > deadline) throw new TransportError(`timed out waiting for the deploy lock on ${keys[busy - 1]!.slice(this.prefix.length)}`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 250);
      }
      keys.forEach((k) => held.add(k));
    };
    const release = async () => {
      if (!held.size) return;
      const keys = [...held];
      held.clear();
      await this.redis.eval(RELEASE, keys.length, ...keys, token).catch(() => undefined);
    };
    await take(names);
    return {
      extend: async (more) => {
        try {
          await take(more);
        } catch (err) {
          await release();
          throw err;
        }
      },
      release,
    };
  }
}
