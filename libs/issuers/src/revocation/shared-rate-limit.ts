import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';

/** How often a replica adds its new counts to the shared ones in Redis and learns the others'. */
export const RATE_SYNC_MS = 100;
const WINDOW_MS = 60_000;

interface ClientCount {
  /** The client's count across all replicas, as Redis last told this replica. */
  shared: number;
  /** Counted here and sent to Redis, not yet answered. */
  sending: number;
  /** Counted here since the last sync. */
  unsent: number;
}

/**
 * A fixed one-minute window per client, shared by the replicas without a Redis round trip per request: each
 * replica decides from the client's shared count (as of its last sync) plus what it counted itself since, and
 * every RATE_SYNC_MS adds its new counts to Redis (INCRBY, one pipeline) and reads the totals back. A single
 * replica is exact; across replicas a client can get past the limit by what the other replicas answered it in
 * the last sync interval or two before they heard of each other. Redis away: decisions go on from the local
 * counts, which are sent once it is back.
 */
export class SharedRateLimit {
  private readonly logger = new Logger(SharedRateLimit.name);
  private window = -1;
  private clients = new Map<string, ClientCount>();
  private syncing = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly redis: Redis, private readonly keyPrefix: string, private readonly limitPerMinute: () => number) {}

  /** Counts one request of `client`; true when it is past the limit. */
  hit(client: string, now = Date.now()): boolean {
    const limit = this.limitPerMinute();
    if (limit <= 0) return false;
    const window = Math.floor(now / WINDOW_MS);
    if (window !== this.window) {
      this.window = window;
      this.clients = new Map();
    }
    let count = this.clients.get(client);
    if (!count) {
      count = { shared: 0, sending: 0, unsent: 0 };
      this.clients.set(client, count);
    }
    count.unsent++;
    this.timer ??= setTimeout(() => void this.sync(), RATE_SYNC_MS).unref();
    return count.shared + count.sending + count.unsent > limit;
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
