import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { apply } from './apply';
import { LeaseLostError } from './errors';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'apply-fence-'));
});

/** The deploy lock's fencing check (Plan.fence): asked before the files go live and before the reload. */
describe('apply with a fencing check', () => {
  it('a lock lost before the commit leaves the live file, and the directory, as they were', async () => {
    writeFileSync(join(dir, 'c.pem'), 'OLD');
    let validated = false;
    await expect(apply({
      files: [{ path: join(dir, 'c.pem'), content: 'NEW' }],
      preCommit: async () => void (validated = true),
      fence: async () => { throw new LeaseLostError('target:t', 7, 'another holder acquired the lock since'); },
    })).rejects.toBeInstanceOf(LeaseLostError);
    expect(validated).toBe(true);
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe('OLD');
    expect(readdirSync(dir)).toEqual(['c.pem']);
  });

  it('a lock lost after the commit skips the reload (the new holder reloads) and is reported', async () => {
    let checks = 0;
    let reloaded = false;
    await expect(apply({
      files: [{ path: join(dir, 'c.pem'), content: 'NEW' }],
      postCommit: async () => void (reloaded = true),
      fence: async () => {
        if (++checks === 2) throw new LeaseLostError('target:t', 7, 'the lease on target:t ran out or was removed');
      },
    })).rejects.toThrow(/deploy lock on target:t lost \(fencing token 7\)/);
    expect(checks).toBe(2);
    expect(reloaded).toBe(false);
  });

  it('a lock still held lets the deploy through, checked once before the commit and once before the reload', async () => {
    let checks = 0;
    const result = await apply({ files: [{ path: join(dir, 'c.pem'), content: 'NEW' }], postCommit: async () => undefined, fence: async () => void checks++ });
    expect(result.reloaded).toBe(true);
    expect(checks).toBe(2);
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe('NEW');
  });
});
