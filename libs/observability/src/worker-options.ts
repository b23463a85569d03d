import type { WorkerOptions } from 'bullmq';
import { loadConfig } from '@certctl/config';

/**
 * Worker settings for `@Processor(queue, workerOptions())`. Decorators are evaluated when the module is loaded,
 * so this reads the configuration then: a worker process must have its environment set before it starts
 * (true for every deployment; tests that need other values run the worker in a child process).
 */
export function workerOptions(): Partial<WorkerOptions> {
  try {
    const { redis } = loadConfig(process.env);
    return { lockDuration: redis.lockDurationMs, stalledInterval: redis.stalledIntervalMs, maxStalledCount: 5 };
  } catch {
    // A bad environment is reported by runMain, which validates it before anything boots.
    return { maxStalledCount: 5 };
  }
}
