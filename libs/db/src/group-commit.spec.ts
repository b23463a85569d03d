import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit';

/** A write that records each batch it is given and finishes when the test says so. */
function controlledWrite(fail?: (items: number[]) => boolean) {
  const batches: number[][] = [];
  const pending: Array<() => void> = [];
  const write = (items: number[]) =>
    new Promise<number[]>((resolve, reject) => {
      batches.push(items);
      pending.push(() => (fail?.(items) ? reject(new Error(`batch ${items.join(',')} failed`)) : resolve(items.map((i) => i * 10))));
    });
  const finishNext = async () => {
    while (!pending.length) await new Promise((r) => setImmediate(r));
    pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { write, batches, finishNext };
}

describe('GroupCommit', () => {
  it('writes items that arrive while a batch is in flight together in the next batch, and answers each only after its batch', async () => {
    const w = controlledWrite();
    const group = new GroupCommit<number, number>(w.write, { maxBatch: 100 });
    const settled: number[] = [];
    const first = group.add(1).then((r) => settled.push(r));
    await new Promise((r) => setImmediate(r));
    const later = [2, 3, 4].map((i) => group.add(i).then((r) => settled.push(r)));
    expect(w.batches).toEqual([[1]]);
    expect(settled).toEqual([]);
    await w.finishNext();
    await first;
    expect(settled).toEqual([10]);
    await w.finishNext();
    await Promise.all(later);
    expect(w.batches).toEqual([[1], [2, 3, 4]]);
    expect(settled).toEqual([10, 20, 30, 40]);
  });

  it('caps a batch at maxBatch items', async () => {
    const w = controlledWrite();
    const group = new GroupCommit<number, number>(w.write, { maxBatch: 2 });
    const all = Promise.all([1, 2, 3, 4, 5].map((i) => group.add(i)));
    for (let i = 0; i < 3; i++) await w.finishNext();
    expect(await all).toEqual([10, 20, 30, 40, 50]);
    expect(w.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('with two writes in flight, starts a second batch while the first is written, and the third gathers the rest', async () => {
    const w = controlledWrite();
    const group = new GroupCommit<number, number>(w.write, { maxBatch: 100, maxInFlight: 2 });
    const first = group.add(1);
    await new Promise((r) => setImmediate(r));
    const second = group.add(2);
    await new Promise((r) => setImmediate(r));
    const rest = [3, 4].map((i) => group.add(i));
    await new Promise((r) => setImmediate(r));
    expect(w.batches).toEqual([[1], [2]]);
    await w.finishNext();
    expect(await first).toBe(10);
    await new Promise((r) => setImmediate(r)); // the freed slot starts the next batch on the next turn
    expect(w.batches).toEqual([[1], [2], [3, 4]]);
    await w.finishNext();
    await w.finishNext();
    expect(await Promise.all([second, ...rest])).toEqual([20, 30, 40]);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const w = controlledWrite((items) => items.includes(2));
    const group = new GroupCommit<number, number>(w.write, { maxBatch: 100 });
    const results = Promise.allSettled([1, 2, 3].map((i) => group.add(i)));
    for (let i = 0; i < 4; i++) await w.finishNext();
    const settled = await results;
    expect(w.batches).toEqual([[1, 2, 3], [1], [2], [3]]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 10 });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: new Error('batch 2 failed') });
    expect(settled[2]).toEqual({ status: 'fulfilled', value: 30 });
  });
});
