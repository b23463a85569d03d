import { describe, expect, it } from 'vitest';
import type { DiscoveryScanEntity } from '@certctl/db';
import { presentScan } from './discovery-scans.service';

const base = {
  id: 'dscan-1', status: 'Running', addresses_total: 1000, addresses_done: 250, error_summary: {},
  started_at: new Date(Date.now() - 10_000), shard_progress: {
    0: { done: 200, found: 3, errors: 1, kinds: { timeout: 1, refused: 190 }, replica: 'a' },
    1: { done: 50, found: 0, errors: 2, kinds: { timeout: 1, tls: 1 }, replica: 'b' },
  },
} as unknown as DiscoveryScanEntity;

describe('presentScan', () => {
  it('shows percent done, an ETA from the pace so far, and the live error breakdown, without shard bookkeeping', () => {
    const view = presentScan(base);
    expect(view.progress_percent).toBe(25);
    expect(view.eta_seconds).toBeGreaterThanOrEqual(29);
    expect(view.eta_seconds).toBeLessThanOrEqual(31);
    expect(view.error_summary).toEqual({ timeout: 2, refused: 190, tls: 1 });
    expect(view).not.toHaveProperty('shard_progress');
  });

  it('has no ETA before the first address is done, and zero once finished', () => {
    expect(presentScan({ ...base, addresses_done: 0 } as DiscoveryScanEntity).eta_seconds).toBeNull();
    const done = presentScan({ ...base, status: 'Completed', addresses_done: 1000, error_summary: { refused: 999 } } as DiscoveryScanEntity);
    expect(done).toMatchObject({ eta_seconds: 0, progress_percent: 100, error_summary: { refused: 999 } });
  });
});
