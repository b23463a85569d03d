import { describe, expect, it } from 'vitest';
import { checkAnswer } from './page-check';

const expected = { ids: ['mc-1', 'mc-2', 'mc-3'], total: 42 };
const page = (ids: string[], total = 42) => JSON.stringify({ data: ids.map((id) => ({ id })), total, page: 1, per_page: 50 });

describe('checkAnswer (bench:api pages against PostgreSQL)', () => {
  it('accepts a page with exactly the ids, in order, and the total the database gives', () => {
    expect(checkAnswer('list', expected, page(['mc-1', 'mc-2', 'mc-3']))).toBeUndefined();
  });

  it('names a page out of order, short, or with another total', () => {
    expect(checkAnswer('list', expected, page(['mc-2', 'mc-1', 'mc-3']))).toMatch(/item 0 is mc-2, the database has mc-1/);
    expect(checkAnswer('list', expected, page(['mc-1', 'mc-2']))).toMatch(/2 items, the database has 3/);
    expect(checkAnswer('list', expected, page(['mc-1', 'mc-2', 'mc-3'], 41))).toMatch(/total is 41, the database counts 42/);
    expect(checkAnswer('list', expected, 'upstream error')).toMatch(/not JSON/);
  });

  it('checks the summary\'s total', () => {
    expect(checkAnswer('summary', { ids: [], total: 7 }, JSON.stringify({ total_certificates: 7 }))).toBeUndefined();
    expect(checkAnswer('summary', { ids: [], total: 7 }, JSON.stringify({ total_certificates: 6 }))).toMatch(/total_certificates is 6/);
  });
});
