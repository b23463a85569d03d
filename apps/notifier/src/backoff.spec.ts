import { describe, expect, it } from 'vitest';
import { NOTIFY_BACKOFF_TYPE } from '@certctl/db';
import { bullmqDelay, notifyBackoffDelay } from './backoff';

describe('notifyBackoffDelay', () => {
  it('waits 2^(n-1) minutes after attempt n, capped at one hour', () => {
    const minutes = [1, 2, 3, 4, 5, 6, 7, 8, 40].map((n) => notifyBackoffDelay(n, 60_000, 3_600_000) / 60_000);
    expect(minutes).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  it('scales to milliseconds for tests and never overflows', () => {
    expect(notifyBackoffDelay(3, 10, 1_000)).toBe(40);
    expect(notifyBackoffDelay(1_000, 10, 1_000)).toBe(1_000);
  });
});

describe('bullmqDelay', () => {
  const policy = (n: number) => notifyBackoffDelay(n, 100, 1_000);
  it('follows the notifier policy for its own backoff type', () => {
    expect(bullmqDelay({ type: NOTIFY_BACKOFF_TYPE }, 3, policy)).toBe(400);
  });
  it("follows BullMQ's formulas for jobs enqueued with built-in backoff options", () => {
    expect(bullmqDelay({ type: 'exponential', delay: 60_000 }, 3, policy)).toBe(240_000);
    expect(bullmqDelay({ type: 'fixed', delay: 5_000 }, 3, policy)).toBe(5_000);
    expect(bullmqDelay(2_500, 3, policy)).toBe(2_500);
  });
});
