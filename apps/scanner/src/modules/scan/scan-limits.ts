import type { Redis } from 'ioredis';

/** A counting semaphore: at most `limit` holders at once, the rest wait in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else this.active--;
  }

  get inUse(): number {
    return this.active;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** At most this much unused schedule (about a tenth of a second's connections) may be caught up. */
const BURST_TOLERANCE_MS = 100;

/**
 * Reserves `cost` milliseconds of a scan's connection schedule and answers how long, from now, until the
 * reservation starts. The schedule's end (a GCRA "theoretical arrival time") lives in Redis, read with Redis's
 * own clock, so every replica draws from the same schedule. Slots left unused in the last `ARGV[2]` ms (a shard
 * woke late) may still be taken: a small burst tolerance, without which timer lateness costs real throughput.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now - tonumber(ARGV[2]))
redis.call('SET', KEYS[1], start + tonumber(ARGV[1]), 'PX', 60000)
return start - now`;

/**
 * New connections per second of one scan, across every scanner replica. A shard reserves a small batch of
 * slots (about 10 ms worth) on the shared schedule, waits for the batch's start, then spends it: a scan opens
 * about `perSecond` connections per second wherever its shards run, in bursts of at most one batch.
 * (Pacing every token inside a batch made idle shards wait behind each other and halved the rate.)
 */
export class ScanRateLimiter {
  private tokens = 0;
  private refilling: Promise<void> | undefined;
  private readonly batch: number;
  private readonly intervalMs: number;

  constructor(private readonly redis: Redis, private readonly key: string, perSecond: number) {
    this.intervalMs = 1000 / perSecond;
    this.batch = Math.max(1, Math.min(256, Math.floor(perSecond / 100)));
  }

  async take(signal?: AbortSignal): Promise<void> {
    while (this.tokens === 0) {
      if (signal?.aborted) return;
      this.refilling ??= this.refill().finally(() => (this.refilling = undefined));
      await this.refilling;
    }
    this.tokens--;
  }

  private async refill(): Promise<void> {
    const waitMs = Number(await this.redis.eval(RESERVE, 1, this.key, Math.ceil(this.batch * this.intervalMs), BURST_TOLERANCE_MS));
    if (waitMs >= 1) await sleep(waitMs);
    this.tokens = this.batch;
  }
}
