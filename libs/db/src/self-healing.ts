import { randomUUID } from 'node:crypto';
import { getQueueToken } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { JobsOptions, Queue as BullQueue } from 'bullmq';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { QueueName } from '@certctl/contracts';
import { REDIS } from './redis.module';

/** A BullMQ job scheduler (a repeatable job) this process keeps in place. */
export interface SchedulerSpec {
  queue: QueueName;
  /** The scheduler id; every replica upserts the same one, so there is one schedule. */
  id: string;
  every: number;
  template: { name: string; data?: Record<string, unknown>; opts?: JobsOptions };
}

export interface HealRound {
  /** The round follows a reconnect of Redis (which may have come back empty), not the timer. */
  afterReconnect: boolean;
}

export interface HealResult {
  /** Schedulers found missing (or without their next job) and created again. */
  restored: string[];
  /** What each recovery this replica ran returned. */
  recovered: Record<string, unknown>;
}

/**
 * Redis is a cache of work, PostgreSQL the truth (ARCHITECTURE §6 "Self-healing"). After a FLUSHALL, or a Redis that
 * restarted without its data, a worker's job schedulers and the queue jobs of database work are gone, and nothing
 * would bring them back until a restart. This keeps them:
 *  - every job scheduler registered here is re-created when it is missing (or has lost its next job);
 *  - every recovery registered here (re-enqueue database work that has no queue job) runs, on one replica per round
 *    (a Redis lock per recovery);
 * on each reconnect of the app's Redis client and on a timer every CERTCTL_SCHEDULER_RECONCILE_INTERVAL: an
 * in-process timer, not a BullMQ job, since BullMQ's keys may be exactly what was lost.
 */
@Injectable()
export class SelfHealing implements OnApplicationShutdown {
  private readonly logger = new Logger(SelfHealing.name);
  private readonly owner = randomUUID();
  private readonly schedulers = new Map<string, SchedulerSpec>();
  private readonly recoveries = new Map<string, (round: HealRound) => Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  /** A round asked for while one was running: runs right after it (a reconnect's round stays one). */
  private again: HealRound | undefined;
  private closed = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly moduleRef: ModuleRef,
  ) {
    // The first 'ready' is the boot connection (the schedulers are upserted at boot anyway); each later one follows a
    // reconnect, after which Redis may have come back empty.
    let connected = redis.status === 'ready';
    redis.on('ready', () => {
      if (!connected) {
        connected = true;
        return;
      }
      this.logger.log('redis reconnected: re-asserting job schedulers and re-enqueueing lost work');
      this.tick({ afterReconnect: true });
    });
  }

  /** Registers a job scheduler this process keeps in place, and upserts it now. */
  async schedule(spec: SchedulerSpec): Promise<void> {
    this.schedulers.set(`${spec.queue}\0${spec.id}`, spec);
    this.start();
    await this.upsert(spec);
  }

  /**
   * Registers a recovery: re-enqueues database work whose queue job is gone. `name` is unique per app; each round one
   * replica runs it. After a reconnect it should not spare recent rows (their queue jobs may be lost too, and the
   * next timer round may be far off).
   */
  recover(name: string, run: (round: HealRound) => Promise<unknown>): void {
    this.recoveries.set(name, run);
    this.start();
  }

  /** One round: missing schedulers are created again, and the recoveries run where this replica wins their lock. */
  async heal(round: HealRound = { afterReconnect: false }): Promise<HealResult> {
    const restored: string[] = [];
    for (const spec of this.schedulers.values()) {
      if (await this.alive(spec)) continue;
      await this.upsert(spec);
      restored.push(`${spec.queue}/${spec.id}`);
    }
    if (restored.length) this.logger.warn({ restored }, 'job schedulers were missing from Redis and were created again');
    const recovered: Record<string, unknown> = {};
    for (const [name, run] of this.recoveries) {
      const key = `${this.config.redis.queuePrefix}:self-heal:${this.config.serviceName}:${name}`;
      const turn = await this.redis.set(key, this.owner, 'PX', Math.max(100, this.config.scheduler.reconcileIntervalMs - 50), 'NX');
      if (turn === 'OK') recovered[name] = await run(round);
    }
    return { restored, recovered };
  }

  onApplicationShutdown(): Promise<unknown> | undefined {
    this.closed = true;
    clearInterval(this.timer);
    return this.running;
  }

  private start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.tick({ afterReconnect: false }), this.config.scheduler.reconcileIntervalMs);
    this.timer.unref();
  }

  /** Runs a round unless one is running; a reconnect during a round asks for another right after it. */
  private tick(round: HealRound): void {
    if (this.closed || (!this.schedulers.size && !this.recoveries.size)) return;
    if (this.running) {
      this.again = { afterReconnect: round.afterReconnect || Boolean(this.again?.afterReconnect) };
      return;
    }
    this.running = this.heal(round)
      .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'self-healing round failed; the next one retries'))
      .finally(() => {
        this.running = undefined;
        const next = this.again;
        this.again = undefined;
        if (next) this.tick(next);
      });
  }

  /** The scheduler exists and its next job is there. */
  private async alive(spec: SchedulerSpec): Promise<boolean> {
    const queue = this.queue(spec.queue);
    const scheduler = await queue.getJobScheduler(spec.id);
    if (!scheduler?.next) return false;
    return Boolean(await queue.getJob(`repeat:${spec.id}:${scheduler.next}`));
  }

  private queue(name: QueueName): BullQueue {
    return this.moduleRef.get<BullQueue>(getQueueToken(name), { strict: false });
  }

  private async upsert(spec: SchedulerSpec): Promise<void> {
    await this.queue(spec.queue).upsertJobScheduler(spec.id, { every: spec.every }, {
      name: spec.template.name, data: spec.template.data ?? {}, opts: spec.template.opts,
    });
  }
}
