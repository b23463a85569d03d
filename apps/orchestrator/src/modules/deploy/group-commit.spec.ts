import { describe, expect, it } from 'vitest';
import { GroupCommitter } from './group-commit';

/** A committer over an in-memory "table", recording the batches it wrote; a value of -1 breaks the batch it is in. */
function committer(options: { maxSize?: number; maxInFlight?: number } = {}) {
  const batches: number[][] = [];
  const singles: number[] = [];
  let inFlight = 0;
  let maxSeen = 0;
  const write = async (items: number[]) => {
    inFlight++;
    maxSeen = Math.max(maxSeen, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    if (items.includes(-1)) throw new Error('bad row');
    return items.map((i) => i * 10);
  };
  const c = new GroupCommitter<number, number>(
    async (items) => {
      batches.push(items);
      return write(items);
    },
    async (item) => {
      singles.push(item);
      return (await write([item]))[0]!;
    },
    options,
  );
  return { c, batches, singles, maxInFlight: () => maxSeen };
}

describe('GroupCommitter', () => {
  it('writes items submitted together in one batch, each caller getting its own result', async () => {
    const { c, batches, singles } = committer();
    expect(await Promise.all([1, 2, 3, 4].map((i) => c.submit(i)))).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    expect(singles).toEqual([]);
  });

  it('a lone item is written on its own, without waiting for company', async () => {
    const { c, batches, singles } = committer();
    expect(await c.submit(7)).toBe(70);
    expect(batches).toEqual([]);
    expect(singles).toEqual([7]);
  });

  it('items arriving while a batch is written go together in the next one, at most maxInFlight batches at once', async () => {
    const { c, batches, maxInFlight } = committer({ maxInFlight: 1 });
    const first = [1, 2].map((i) => c.submit(i));
    await new Promise((r) => setImmediate(r));
    const later = [3, 4, 5].map((i) => c.submit(i));
    await new Promise((r) => setTimeout(r, 1));
    const last = [6, 7].map((i) => c.submit(i));
    expect(await Promise.all([...first, ...later, ...last])).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(batches).toEqual([[1, 2], [3, 4, 5, 6, 7]]);
    expect(maxInFlight()).toBe(1);
  });

  it('respects maxSize', async () => {
    const { c, batches } = committer({ maxSize: 2, maxInFlight: 3 });
    await Promise.all([1, 2, 3, 4, 5, 6].map((i) => c.submit(i)));
    expect(batches.map((b) => b.length)).toEqual([2, 2, 2]);
  });

  it('a bad item fails only its own caller: the batch is written again item by item', async () => {
    const { c, batches, singles } = committer();
    const results = await Promise.allSettled([1, -1, 3].map((i) => c.submit(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([10, 'bad row', 30]);
    expect(batches).toEqual([[1, -1, 3]]);
    expect(singles.sort()).toEqual([-1, 1, 3]);
  });
});
