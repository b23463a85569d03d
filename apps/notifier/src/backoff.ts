import type { BackoffOptions } from 'bullmq';
import { NOTIFY_BACKOFF_TYPE } from '@certctl/db';

/** Wait after failed attempt n (1-based): 2^(n-1) x base, capped. With base 1 min and cap 1 h: 1, 2, 4, 8, … 60 min. */
export function notifyBackoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, attempt - 1);
  // 2^31 minutes is far beyond any cap; stop doubling before the number overflows.
  return Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 31));
}

/** The error a failed attempt throws, carrying the delay the processor chose (from the row's attempt count). */
export class RetryLater extends Error {
  constructor(message: string, readonly delayMs: number) {
    super(message);
    this.name = 'RetryLater';
  }
}

/**
 * The delay BullMQ will wait after attempt n of a job with these backoff options: our custom type follows the
 * notifier's policy; jobs enqueued with the contract's built-in options follow BullMQ's own formula.
 */
export function bullmqDelay(backoff: number | BackoffOptions | undefined, attempt: number, policy: (n: number) => number): number {
  if (typeof backoff === 'number') return backoff;
  if (!backoff || backoff.type === NOTIFY_BACKOFF_TYPE) return policy(attempt);
  if (backoff.type === 'fixed') return backoff.delay ?? 0;
  if (backoff.type === 'exponential') return Math.round(2 ** (attempt - 1) * (backoff.delay ?? 0));
  return policy(attempt);
}
