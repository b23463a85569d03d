import { BeforeApplicationShutdown, HttpStatus, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { agentWorkChannel, parseAgentWorkMessage, REDIS, reportRedisError } from '@certctl/db';
import { METRICS_REGISTRY } from '@certctl/observability';
import { Gauge, Registry } from 'prom-client';
import { ApiError } from '../../common/http/api-error';

/** Why a held work request stops waiting: work may be there, its time is up, or it must answer now. */
export type HeldPollEvent = 'work' | 'timeout' | 'replaced' | 'closing' | 'gone';

/**
 * One agent's held work request. A wake-up that comes while the request is reading the database is kept, so a
 * notification between two reads is never lost.
 */
export class HeldPoll {
  private wokenMeanwhile = false;
  private ended: HeldPollEvent | undefined;
  private resolveWait: ((event: HeldPollEvent) => void) | undefined;

  constructor(readonly agentId: string) {}

  wake(): void {
    if (this.resolveWait) this.resolveWait('work');
    else this.wokenMeanwhile = true;
  }

  /** Ends the wait for good (a newer request of the agent, shutdown, the client went away). */
  end(event: Exclude<HeldPollEvent, 'work' | 'timeout'>): void {
    this.ended ??= event;
    this.resolveWait?.(event);
  }

  /** Waits up to `ms` for the next event. */
  next(ms: number): Promise<HeldPollEvent> {
    if (this.ended) return Promise.resolve(this.ended);
    if (this.wokenMeanwhile) {
      this.wokenMeanwhile = false;
      return Promise.resolve('work');
    }
    if (ms <= 0) return Promise.resolve('timeout');
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle('timeout'), ms);
      const settle = (event: HeldPollEvent) => {
        clearTimeout(timer);
        this.resolveWait = undefined;
        resolve(event);
      };
      this.resolveWait = settle;
    });
  }
}

/**
 * The held work requests of this api process, and its one Redis subscription that wakes them when work for an
 * agent is created anywhere (AgentWorkSignal, from any api or orchestrator process). One held request per agent
 * (a newer one replaces it), at most CERTCTL_AGENT_LONG_POLL_MAX_HELD in all, every one answered at shutdown.
 */
@Injectable()
export class AgentWorkHub implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('AgentWorkHub');
  private readonly held = new Map<string, HeldPoll>();
  private subscriber: Redis | undefined;
  private closing = false;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    const held = this.held;
    new Gauge({
      name: 'certctl_agent_long_polls_held', help: 'Agents\' work requests this api process holds open now (long-poll)', registers: [registry],
      collect() {
        this.set(held.size);
      },
    });
  }

  onModuleInit(): void {
    const channel = agentWorkChannel(this.config.redis.queuePrefix);
    // Its own connection: a subscribed ioredis client can do nothing else. ioredis subscribes again after a reconnect.
    const subscriber = this.redis.duplicate({ maxRetriesPerRequest: null });
    subscriber.on('error', (err: Error) => reportRedisError('agent-work-subscriber', err));
    subscriber.on('message', (_channel: string, message: string) => {
      for (const agentId of parseAgentWorkMessage(message)) this.held.get(agentId)?.wake();
    });
    // Not awaited: boot does not wait for Redis; until subscribed, held requests end at their timeout with a fresh read.
    subscriber.subscribe(channel).catch((err: Error) => this.logger.warn({ err: err.message }, 'agent work channel not subscribed yet'));
    this.subscriber = subscriber;
  }

  /** Before the HTTP server closes (which waits for requests in flight): every held request answers now. */
  beforeApplicationShutdown(): void {
    this.closing = true;
    for (const poll of this.held.values()) poll.end('closing');
    this.held.clear();
    this.subscriber?.disconnect();
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Whether a work request of this agent is held here now. */
  holds(agentId: string): boolean {
    return this.held.has(agentId);
  }

  /**
   * Registers a held request for the agent, replacing (answering) the one it held before. Undefined while the
   * process shuts down (the caller answers at once); 429 when this process holds its maximum.
   */
  hold(agentId: string): HeldPoll | undefined {
    if (this.closing) return undefined;
    const previous = this.held.get(agentId);
    if (!previous && this.held.size >= this.config.agentLongPoll.maxHeld) {
      throw new ApiError(HttpStatus.TOO_MANY_REQUESTS, 'LONG_POLL_CAPACITY',
        `this api process already holds ${this.config.agentLongPoll.maxHeld} work requests (CERTCTL_AGENT_LONG_POLL_MAX_HELD); poll without wait, or retry later`);
    }
    previous?.end('replaced');
    const poll = new HeldPoll(agentId);
    this.held.set(agentId, poll);
    return poll;
  }

  release(poll: HeldPoll): void {
    if (this.held.get(poll.agentId) === poll) this.held.delete(poll.agentId);
  }
}
