import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';

/** How often a replica adds its new counts to the shared ones in Redis and learns the others'. */
export const RATE_SYNC_MS = 100;
const WINDOW_MS = 60_000;
/** How long a replica waits for Redis to tell it a new client's shared count before deciding from its own. */
const LEARN_TIMEOUT_MS = 250;

interface ClientCount {
  /** The client's count across all replicas, as Redis last told this replica. */
  shared: number;
  /** Counted here and sent to Redis, not yet answered. */
  sending: number;
  /** Counted here since the last sync. */
  unsent: number;
  /** The shared count read when this replica first met the client in this window (undefined once read or given up). */
  learning: Promise<void> | undefined;
  learned: boolean;
}

/**
 * A fixed one-minute window per client, shared by the replicas without a Redis round trip per request: the
 * first time a replica meets a client in a window it reads the client's shared count (one GET, which every
 * request of that client arriving meanwhile waits for), so a client already over the limit elsewhere is refused
 * here from its first request on. After that each replica decides from the shared count (as of its last sync)
 * plus what it counted itself since, and every RATE_SYNC_MS adds its new counts to Redis (INCRBY, one pipeline)
 * and reads the totals back. A single replica is exact; across replicas a client can get past the limit by what
 * the other replicas answered it within one sync interval. Redis away (or slower than LEARN_TIMEOUT_MS):
 * decisions go on from the local counts, which are sent once it is back.
 */
export class SharedRateLimit {
  private readonly logger = new Logger(SharedRateLimit.name);
  private window = -1;
  private clients = new Map<string, ClientCount>();
  private syncing = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly redis: Redis, private readonly keyPrefix: string, private readonly limitPerMinute: () => number) {}

  /** Counts one request of `client` (see clientKeyOf); true when it is past the limit. */
  async hit(client: string, now = Date.now()): Promise<boolean> {
    const limit = this.limitPerMinute();
    if (limit <= 0) return false;
    const window = Math.floor(now / WINDOW_MS);
    if (window !== this.window) {
      this.window = window;
      this.clients = new Map();
    }
    let count = this.clients.get(client);
    if (!count) {
      count = { shared: 0, sending: 0, unsent: 0, learning: undefined, learned: false };
      this.clients.set(client, count);
    }
    if (!count.learned) {
      count.learning ??= this.learn(`${this.keyPrefix}:${client}:${window}`, count);
      await count.learning;
    }
    count.unsent++;
    this.timer ??= setTimeout(() => void this.sync(), RATE_SYNC_MS).unref();
    return count.shared + count.sending + count.unsent > limit;
  }

  private async learn(key: string, count: ClientCount): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const shared = await Promise.race([
        this.redis.get(key),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${LEARN_TIMEOUT_MS} ms`)), LEARN_TIMEOUT_MS); }),
      ]);
      count.shared = Math.max(count.shared, Number(shared ?? 0));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'rate-limit count of a new client not read (Redis); deciding from local counts');
    } finally {
      clearTimeout(timer);
      count.learned = true;
      count.learning = undefined;
    }
  }

  /** Sends this replica's new counts and takes the shared totals back. */
  async sync(): Promise<void> {
    this.timer = undefined;
    if (this.syncing) {
      this.timer = setTimeout(() => void this.sync(), RATE_SYNC_MS).unref();
      return;
    }
    const window = this.window;
    const clients = this.clients;
    const batch = [...clients].filter(([, c]) => c.unsent > 0);
    if (!batch.length) return;
    this.syncing = true;
    const sent = batch.map(([, c]) => c.unsent);
    const pipeline = this.redis.pipeline();
    for (const [client, c] of batch) {
      const key = `${this.keyPrefix}:${client}:${window}`;
      pipeline.incrby(key, c.unsent).pexpire(key, WINDOW_MS + 1_000);
      c.sending += c.unsent;
      c.unsent = 0;
    }
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([err]) => err)?.[0];
      if (failed) throw failed;
      batch.forEach(([, c], i) => {
        c.sending -= sent[i]!;
        c.shared = Number(results[i * 2]![1]);
      });
    } catch (err) {
      // Not lost: counted again at the next sync (same window) or dropped with the window it belonged to.
      batch.forEach(([, c], i) => {
        c.sending -= sent[i]!;
        c.unsent += sent[i]!;
      });
      this.logger.warn({ err: (err as Error).message }, 'OCSP rate-limit counts not shared (Redis); deciding from local counts');
    } finally {
      this.syncing = false;
    }
    if (this.window === window && [...clients.values()].some((c) => c.unsent > 0)) this.timer ??= setTimeout(() => void this.sync(), RATE_SYNC_MS).unref();
  }
}
