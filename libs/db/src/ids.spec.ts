import { describe, expect, it } from 'vitest';
import { CLIENT_ID_PATTERN, ID_PREFIX, newId } from './ids';

describe('newId', () => {
  it('uses certctl-style type prefixes', () => {
    expect(newId('certificate')).toMatch(/^mc-[0-9a-z]{22}$/);
    expect(newId('job')).toMatch(/^job-/);
    expect(newId('version')).toMatch(/^certver-/);
    expect(Object.values(ID_PREFIX)).toHaveLength(new Set(Object.values(ID_PREFIX)).size);
  });

  it('sorts by creation time and does not collide', async () => {
    const first = newId('team');
    await new Promise((r) => setTimeout(r, 2));
    const second = newId('team');
    expect(first < second).toBe(true);
    const many = new Set(Array.from({ length: 10_000 }, () => newId('audit')));
    expect(many.size).toBe(10_000);
  });

  it('generated ids are valid client ids too', () => {
    expect(CLIENT_ID_PATTERN.test(newId('owner'))).toBe(true);
    expect(CLIENT_ID_PATTERN.test('iss-local')).toBe(true);
    for (const bad of ['', '-x', 'a b', 'a/b', 'x'.repeat(129), '../etc']) expect(CLIENT_ID_PATTERN.test(bad), bad).toBe(false);
  });
});
