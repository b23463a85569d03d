import { describe, expect, it } from 'vitest';
import { interleave, ratioOf, roundsFromEnv, spread, spreadOf } from './rounds';

describe('interleave (bench rounds)', () => {
  it('runs every contender once per round, A B then B A, rotating the order, with the load average at both ends', async () => {
    const calls: string[] = [];
    const rates: Record<string, number[]> = { ours: [100, 90, 110], peer: [200, 150, 220] };
    const records = await interleave(
      ['ours', 'peer'].map((name) => ({ name, run: async (round: number) => (calls.push(`${name}${round}`), rates[name]![round - 1]!) })),
      3,
    );
    expect(calls).toEqual(['ours1', 'peer1', 'peer2', 'ours2', 'ours3', 'peer3']);
    expect(records.map((r) => r.order)).toEqual([['ours', 'peer'], ['peer', 'ours'], ['ours', 'peer']]);
    for (const r of records) {
      expect(r.loadavg_start).toHaveLength(3);
      expect(r.loadavg_end).toHaveLength(3);
    }
    // Ratios within each round, then their median; not the ratio of the medians.
    const ratio = ratioOf(records, (x) => x, 'ours', 'peer');
    expect(ratio.per_round).toEqual([0.5, 0.6, 0.5]);
    expect(ratio).toMatchObject({ median: 0.5, min: 0.5, max: 0.6, n: 3 });
    expect(spreadOf(records, (x) => x).peer).toEqual({ median: 200, min: 150, max: 220, n: 3 });
  });

  it('takes the median of an even count as the mean of the middle two', () => {
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, n: 4 });
  });

  it('refuses fewer than three rounds', () => {
    expect(() => roundsFromEnv({ BENCH_ROUNDS: '2' })).toThrow(/BENCH_ROUNDS/);
    expect(roundsFromEnv({})).toBe(3);
  });
});
