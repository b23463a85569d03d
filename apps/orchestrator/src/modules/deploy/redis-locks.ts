import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig, loadDeployConfig } from '@certctl/config';
import { REDIS } from '@certctl/db';
import { LeaseLostError, messageOf, TransportError } from '@certctl/deploy';

/**
 * First take: KEYS[1] is the fencing counter of the first name, the lock keys follow. All or none: every lock key is
 * free (or already ours) and is set with our token for the lease, and the counter is incremented; its new value is
 * this holder's fencing token. A busy key answers -(its index among the lock keys).
 */
const ACQUIRE = `
for i = 2, #KEYS do
  local holder = redis.call('get', KEYS[i])
  if holder and holder ~= ARGV[1] then return 1 - i end
end
for i = 2, #KEYS do redis.call('set', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
local fence = redis.call('incr', KEYS[1])
redis.call('pexpire', KEYS[1], ARGV[3])
return fence`;

/** More names under a token already held (no new fencing token): 0, or the 1-based index of the first busy key. */
const EXTEND = `
for i, key in ipairs(KEYS) do
  local holder = redis.call('get', key)
  if holder and holder ~= ARGV[1] then return i end
end
for _, key in ipairs(KEYS) do redis.call('set', key, ARGV[1], 'PX', ARGV[2]) end
return 0`;

/**
 * "Am I still the holder with token N?", and if so the lease starts again. KEYS[1] is the fencing counter, the lock
 * keys follow. -1: someone took the lock since (the counter moved on, or was lost with Redis's data); i > 0: lock key
 * i no longer holds our token (its lease ran out, or it was deleted); 0: still ours, renewed.
 */
const CONFIRM = `
if redis.call('get', KEYS[1]) ~= ARGV[2] then return -1 end
for i = 2, #KEYS do
  if redis.call('get', KEYS[i]) ~= ARGV[1] then return i - 1 end
end
for i = 2, #KEYS do redis.call('pexpire', KEYS[i], ARGV[3]) end
return 0`;

/** Deletes the keys that still hold our token (a key whose lease ran out may belong to someone else by now). */
const RELEASE = `
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then released = released + redis.call('del', key) end
end
return released`;

/** A fencing counter outlives every lease by far; it expires only after a week without a deploy to its target. */
const FENCE_COUNTER_TTL_MS = 7 * 86_400_000;

/** Locks held under one token: more names can be added, and all are released together. */
export interface HeldLocks {
  /** This holder's fencing token: incremented per target by every acquisition, so a later holder has a larger one. */
  readonly fence: number;
  /** Takes more names under the same token (one round trip when they are free). */
  extend(names: string[]): Promise<void>;
  /**
   * The fencing check, asked right before anything is written: resolves (and renews the lease) only while this holder
   * still holds every name with its token and nobody acquired the first name since; otherwise throws LeaseLostError.
   */
  confirm(): Promise<void>;
  /** Stops renewing and releases every name still held by this token (one round trip). */
  release(): Promise<void>;
}

/**
 * Locks shared by every orchestrator replica: one Redis key per name, taken with a random token by a script that
 * sets all the names or none (so two deployments cannot deadlock, and a free set costs one round trip), and released
 * only by its holder. Each is a short lease (CERTCTL_DEPLOY_LOCK_LEASE_SECONDS) renewed every third of it while the
 * deploy runs, so a replica that died holding one frees it within the lease, while a slow deploy keeps it as long as
 * it lives. Every acquisition gets a fencing token (a per-target counter); the deploy confirms it right before it
 * commits files and before it reloads, so a holder whose lease was lost (a long pause, Redis lost or failed over)
 * stops instead of writing over its successor. The locks have a connection of their own that auto-pipelines: the
 * scripts of jobs running at the same time go out in one write.
 */
@Injectable()
export class RedisLocks implements OnModuleDestroy {
  private readonly logger = new Logger(RedisLocks.name);
  private readonly prefix: string;
  private readonly redis: Redis;
  private readonly leaseMs: number;
  private readonly held = new Set<() => void>();

  constructor(@Inject(REDIS) shared: Redis, @Inject(APP_CONFIG) config: AppConfig) {
    this.prefix = `${config.redis.queuePrefix}:deploy-lock:`;
    this.redis = shared.duplicate({ enableAutoPipelining: true });
    this.leaseMs = loadDeployConfig().lockLeaseMs;
  }

  async onModuleDestroy(): Promise<void> {
    for (const stop of this.held) stop();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  async acquire(names: string[], options: { leaseMs?: number; waitMs?: number } = {}): Promise<HeldLocks> {
    const leaseMs = options.leaseMs ?? this.leaseMs;
    const waitMs = options.waitMs ?? 10 * 60_000;
    const token = randomBytes(12).toString('hex');
    const fenceKey = `${this.prefix}fence:${names[0]}`;
    const keys = new Set<string>();
    let fence = 0;
    /** Why the lease is gone, once it is; every later confirm() fails with it at once. */
    let lost: string | undefined;
    let lastConfirmedAt = 0;

    const waitFor = async (wanted: string[], attempt: (keys: string[]) => Promise<number | undefined>) => {
      const deadline = Date.now() + waitMs;
      let delay = 10;
      for (;;) {
        const busy = await attempt(wanted);
        if (busy === undefined) return;
        if (Date.now() > deadline) throw new TransportError(`timed out waiting for the deploy lock on ${wanted[busy - 1]!.slice(this.prefix.length)}`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 250);
      }
    };
    const lockKeys = (more: string[]) => [...new Set(more.map((n) => this.prefix + n))].filter((k) => !keys.has(k));

    const first = lockKeys(names);
    await waitFor(first, async (wanted) => {
      // The lease is counted from before the request: it began no earlier than that.
      const sentAt = Date.now();
      const answer = Number(await this.redis.eval(ACQUIRE, wanted.length + 1, fenceKey, ...wanted, token, leaseMs, FENCE_COUNTER_TTL_MS));
      if (answer < 0) return -answer;
      fence = answer;
      lastConfirmedAt = sentAt;
      return undefined;
    });
    first.forEach((k) => keys.add(k));

    /** One CONFIRM round trip; records a loss. */
    const check = async (): Promise<void> => {
      if (lost) throw new LeaseLostError(names[0]!, fence, lost);
      const started = Date.now();
      let answer: number;
      try {
        answer = Number(await this.redis.eval(CONFIRM, keys.size + 1, fenceKey, ...keys, token, fence, leaseMs));
      } catch (err) {
        // Unconfirmed for a whole lease: someone else may hold it by now.
        if (Date.now() - lastConfirmedAt >= leaseMs) lost = `the lease could not be renewed for ${leaseMs} ms (${messageOf(err)})`;
        throw new LeaseLostError(names[0]!, fence, lost ?? `the lease could not be confirmed (${messageOf(err)})`);
      }
      if (answer === 0) {
        lastConfirmedAt = started;
        return;
      }
      lost = answer < 0 ? 'another holder acquired the lock since' : `the lease on ${[...keys][answer - 1]!.slice(this.prefix.length)} ran out or was removed`;
      throw new LeaseLostError(names[0]!, fence, lost);
    };

    // The heartbeat: renews the lease every third of it until released or lost.
    const heartbeat = setInterval(() => {
      check().catch(() => {
        if (lost) {
          stop();
          this.logger.warn({ lock: names[0], fence, reason: lost }, 'deploy lock lost while held');
        }
      });
    }, Math.max(50, Math.floor(leaseMs / 3)));
    heartbeat.unref();
    const stop = () => {
      clearInterval(heartbeat);
      this.held.delete(stop);
    };
    this.held.add(stop);

    const release = async () => {
      stop();
      if (!keys.size) return;
      const all = [...keys];
      keys.clear();
      await this.redis.eval(RELEASE, all.length, ...all, token).catch(() => undefined);
    };

    return {
      fence,
      extend: async (more) => {
        const wanted = lockKeys(more);
        if (!wanted.length) return;
        try {
          await waitFor(wanted, async (k) => {
            const busy = Number(await this.redis.eval(EXTEND, k.length, ...k, token, leaseMs));
            return busy === 0 ? undefined : busy;
          });
        } catch (err) {
          await release();
          throw err;
        }
        wanted.forEach((k) => keys.add(k));
      },
      confirm: check,
      release,
    };
  }
}
