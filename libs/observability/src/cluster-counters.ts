import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { REDIS } from '@certctl/db';

export type CounterLabels = Record<string, string>;

export interface CounterSample {
  name: string;
  labels: CounterLabels;
  value: number;
}

/** `name{a="x",b="y"}` with sorted labels: one hash field per series. */
export function seriesKey(name: string, labels: CounterLabels = {}): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

function parseSeriesKey(field: string): { name: string; labels: CounterLabels } {
  const brace = field.indexOf('{');
  if (brace < 0) return { name: field, labels: {} };
  const labels: CounterLabels = {};
  for (const match of field.slice(brace + 1, -1).matchAll(/(\w+)="([^"]*)"/g)) labels[match[1]!] = match[2]!;
  return { name: field.slice(0, brace), labels };
}

/**
 * Counters that several processes increment and any replica reads (ARCHITECTURE §6): one Redis hash per
 * deployment (under the queue prefix), one field per series. Increments made within one turn of the event loop
 * are summed and sent as one HINCRBY per series; the callers resume once Redis has them. Counting never fails
 * the work it counts: a Redis error loses those increments and is logged.
 */
@Injectable()
export class ClusterCounters {
  private readonly logger = new Logger(ClusterCounters.name);
  private readonly key: string;
  private pending = new Map<string, number>();
  private flushed: Promise<void> | undefined;

  constructor(@Inject(REDIS) private readonly redis: Redis, @Inject(APP_CONFIG) config: AppConfig) {
    this.key = `${config.redis.queuePrefix}:cluster-counters`;
  }

  increment(name: string, labels: CounterLabels = {}, by = 1): Promise<void> {
    const field = seriesKey(name, labels);
    this.pending.set(field, (this.pending.get(field) ?? 0) + by);
    this.flushed ??= new Promise<void>((done) => setImmediate(done)).then(() => this.flush());
    return this.flushed;
  }

  private async flush(): Promise<void> {
    const increments = this.pending;
    this.pending = new Map();
    this.flushed = undefined;
    try {
      const pipeline = this.redis.pipeline();
      for (const [field, by] of increments) pipeline.hincrby(this.key, field, by);
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err)?.[0];
      if (failed) throw failed;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, series: increments.size }, 'cluster counter increments lost');
    }
  }

  /** Every series of every counter. */
  async read(): Promise<CounterSample[]> {
    const fields = await this.redis.hgetall(this.key);
    return Object.entries(fields).map(([field, value]) => ({ ...parseSeriesKey(field), value: Number(value) }));
  }
}
