import { describe, expect, it } from 'vitest';
import { MicroBatcher } from './micro-batcher';

describe('MicroBatcher', () => {
  it('serves the calls of one event-loop turn with one run, each with its own answer', async () => {
    const runs: number[][] = [];
    const batcher = new MicroBatcher<number, string>(async (keys) => {
      runs.push(keys);
      return new Map(keys.filter((k) => k !== 3).map((k) => [k, `v${k}`]));
    }, 100, 'none');
    const answers = await Promise.all([1, 2, 3, 2].map((k) => batcher.add(k)));
    expect(answers).toEqual(['v1', 'v2', 'none', 'v2']);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('flushes at the size limit and passes a failure to every caller of that run', async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher<number, number>(async (keys) => {
      sizes.push(keys.length);
      if (keys.includes(99)) throw new Error('database down');
      return new Map(keys.map((k) => [k, k]));
    }, 2);
    await expect(Promise.all([1, 2, 3].map((k) => batcher.add(k)))).resolves.toEqual([1, 2, 3]);
    expect(sizes).toEqual([2, 1]);
    await expect(batcher.add(99)).rejects.toThrow('database down');
  });
});
