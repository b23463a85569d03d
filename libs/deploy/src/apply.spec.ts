import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useDeployPolicy } from './policy';
import { apply } from './apply';
import { PlanInvalidError, PostVerifyFailedError, ReloadFailedError, RollbackFailedError, ValidateFailedError } from './errors';

/** Every test writes below its own directory under this root (the allowed destination root of these tests). */
const root = mkdtempSync(join(tmpdir(), 'apply-root-'));
/** Outside the allowed root: where a planted link would lead. */
const outside = mkdtempSync(join(tmpdir(), 'apply-outside-'));
beforeAll(() => useDeployPolicy({ allowedRoots: [root] }));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(root, 'apply-'));
});

const mode = (path: string) => statSync(path).mode & 0o777;
const entries = () => readdirSync(dir).sort();

describe('apply', () => {
  it('writes new files with default modes (certificate 0644, key 0600) and makes no backups of files that did not exist', async () => {
    const result = await apply({ files: [{ path: join(dir, 'c.pem'), content: 'CERT' }, { path: join(dir, 'k.pem'), content: 'KEY', secret: true }] });
    expect(result).toMatchObject({ skippedAsIdempotent: false, validateOk: true, backupPaths: [] });
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe('CERT');
    expect(mode(join(dir, 'c.pem'))).toBe(0o644);
    expect(mode(join(dir, 'k.pem'))).toBe(0o600);
    expect(entries()).toEqual(['c.pem', 'k.pem']);
  });

  it('mode: explicit beats the existing file\'s, which beats the defaults; a key is never left more open than 0640', async () => {
    writeFileSync(join(dir, 'a.pem'), 'old', { mode: 0o640 });
    writeFileSync(join(dir, 'k.pem'), 'old', { mode: 0o644 });
    await apply({
      files: [
        { path: join(dir, 'a.pem'), content: 'new' },
        { path: join(dir, 'b.pem'), content: 'new', mode: 0o600 },
        { path: join(dir, 'k.pem'), content: 'new', secret: true },
        { path: join(dir, 'n.pem'), content: 'new' },
      ],
      defaults: { mode: 0o444 },
    });
    expect([mode(join(dir, 'a.pem')), mode(join(dir, 'b.pem')), mode(join(dir, 'k.pem')), mode(join(dir, 'n.pem'))]).toEqual([0o640, 0o600, 0o600, 0o444]);
    await expect(apply({ files: [{ path: join(dir, 'k.pem'), content: 'x', secret: true, mode: 0o644 }] })).rejects.toBeInstanceOf(PlanInvalidError);
  });

  it('refuses invalid plans: no files, relative paths, "..", duplicates, empty content', async () => {
    for (const files of [
      [], [{ path: 'relative.pem', content: 'x' }], [{ path: `${dir}/../x.pem`, content: 'x' }],
      [{ path: join(dir, 'a'), content: 'x' }, { path: join(dir, 'a'), content: 'y' }], [{ path: join(dir, 'e'), content: '' }],
    ]) {
      await expect(apply({ files }), JSON.stringify(files)).rejects.toBeInstanceOf(PlanInvalidError);
    }
    expect(entries()).toEqual([]);
  });

  it('skips without validating, reloading or backing up when every destination already holds the same bytes', async () => {
    const calls: string[] = [];
    const plan = () => ({
      files: [{ path: join(dir, 'c.pem'), content: 'CERT' }, { path: join(dir, 'k.pem'), content: 'KEY', secret: true }],
      preCommit: async () => void calls.push('validate'), postCommit: async () => void calls.push('reload'),
    });
    expect((await apply(plan())).skippedAsIdempotent).toBe(false);
    const second = await apply(plan());
    expect(second).toMatchObject({ skippedAsIdempotent: true, backupPaths: [], reloaded: false });
    expect(calls).toEqual(['validate', 'reload']);
    expect(entries()).toEqual(['c.pem', 'k.pem']);
    // One changed file is enough to deploy them all.
    await apply({ ...plan(), files: [{ path: join(dir, 'c.pem'), content: 'CERT2' }, { path: join(dir, 'k.pem'), content: 'KEY', secret: true }] });
    expect(calls).toEqual(['validate', 'reload', 'validate', 'reload']);
  });

  it('validates the new files before they go live; a failure leaves the live files, and no temp or backup files, behind', async () => {
    writeFileSync(join(dir, 'c.pem'), 'OLD');
    let seen: string | undefined;
    const failing = apply({
      files: [{ path: join(dir, 'c.pem'), content: 'NEW' }],
      preCommit: async (temps) => {
        seen = await readFile(temps.get(join(dir, 'c.pem'))!, 'utf8');
        throw new Error('nginx: [emerg] bad certificate');
      },
      postCommit: async () => expect.fail('reload must not run'),
    });
    await expect(failing).rejects.toBeInstanceOf(ValidateFailedError);
    await expect(failing).rejects.toThrow(/bad certificate/);
    expect(seen).toBe('NEW');
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe('OLD');
    expect(entries()).toEqual(['c.pem']);
  });

  it('a failed reload restores every file (removing new ones), reloads again and reports "rolled back"', async () => {
    writeFileSync(join(dir, 'c.pem'), 'OLD', { mode: 0o640 });
    const reloads: string[] = [];
    const failing = apply({
      files: [{ path: join(dir, 'c.pem'), content: 'NEW' }, { path: join(dir, 'chain.pem'), content: 'CHAIN' }],
      postCommit: async () => {
        reloads.push(readFileSync(join(dir, 'c.pem'), 'utf8'));
        if (reloads.length === 1) throw new Error('reload refused');
      },
    });
    const err = await failing.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReloadFailedError);
    expect(err).toMatchObject({ stage: 'reload', rollback: 'restored' });
    expect(reloads).toEqual(['NEW', 'OLD']);
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe('OLD');
    expect(mode(join(dir, 'c.pem'))).toBe(0o640);
    expect(existsSync(join(dir, 'chain.pem'))).toBe(false);
  });

  it('reports "rollback also failed" with the backup paths when the second reload fails too', async () => {
    writeFileSync(join(dir, 'c.pem'), 'OLD');
    const err = await apply({ files: [{ path: join(dir, 'c.pem'), content: 'NEW' }], postCommit: async () => { throw new Error('down'); } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RollbackFailedError);
    expect(err).toMatchObject({ rollback: 'also_failed' });
    const backups = (err as RollbackFailedError).backupPaths;
    expect(backups).toHaveLength(1);
    expect(readFileSync(backups[0]!, 'utf8')).toBe('OLD');
    expect((err as Error).message).toContain(backups[0]);
  });

  it('a failed post-deploy verification restores the files and reloads', async () => {
    writeFileSync(join(dir, 'c.pem'), 'OLD');
    let reloads = 0;
    const err = await apply({
      files: [{ path: join(dir, 'c.pem'), content: 'NEW' }],
      postCommit: async () => void reloads++,
      verify: async () => { throw Object.assign(new Error('serves the old leaf'), { servedFingerprint: 'ab' }); },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PostVerifyFailedError);
    expect(err).toMatchObject({ rollback: 'restored', servedFingerprint: 'ab' });
    expect(reloads).toBe(2);
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe('OLD');
  });

  it('keeps the newest backups up to the retention (3 by default, 0 keeps none)', async () => {
    const path = join(dir, 'c.pem');
    for (let i = 0; i < 6; i++) await apply({ files: [{ path, content: `v${i}` }] });
    const backups = entries().filter((n) => n.includes('.certctl-bak.'));
    expect(backups).toHaveLength(3);
    expect(backups.map((b) => readFileSync(join(dir, b), 'utf8')).sort()).toEqual(['v2', 'v3', 'v4']);
    const last = await apply({ files: [{ path, content: 'v6' }], backupRetention: 0 });
    expect(last.backupPaths).toEqual([]);
    expect(entries()).toEqual(['c.pem']);
  });

  it('a concurrent reader never sees a half-written file across many alternating writes', async () => {
    const path = join(dir, 'big.pem');
    const a = Buffer.alloc(512 * 1024, 'a');
    const b = Buffer.alloc(512 * 1024, 'b');
    await apply({ files: [{ path, content: a }] });
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const seen = await readFile(path);
        reads++;
        if (!seen.equals(a) && !seen.equals(b)) throw new Error(`torn read of ${seen.length} bytes`);
      }
    })();
    for (let i = 0; i < 60; i++) await apply({ files: [{ path, content: i % 2 ? a : b }], backupRetention: 1 });
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(10);
  });

  it('8 concurrent applies to one path run one at a time, each seeing the previous one\'s result', async () => {
    const path = join(dir, 'c.pem');
    let inFlight = 0;
    let maxInFlight = 0;
    const order: string[] = [];
    await Promise.all(Array.from({ length: 8 }, (_, i) => apply({
      files: [{ path, content: `v${i}` }],
      preCommit: async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5));
      },
      postCommit: async () => {
        order.push(readFileSync(path, 'utf8'));
        inFlight--;
      },
    })));
    expect(maxInFlight).toBe(1);
    expect(order).toHaveLength(8);
    expect(new Set(order).size).toBe(8);
  });

  it('refuses a destination outside the allowed roots, and a link planted inside them that leads out, when it writes', async () => {
    await expect(apply({ files: [{ path: join(outside, 'c.pem'), content: 'CERT' }] })).rejects.toThrow(PlanInvalidError);
    // A directory inside the root that is a link to a directory outside it (planted after the config was checked).
    symlinkSync(outside, join(dir, 'ssl'));
    const escaped = apply({ files: [{ path: join(dir, 'ssl', 'c.pem'), content: 'CERT' }] });
    await expect(escaped).rejects.toThrow(PlanInvalidError);
    await expect(escaped).rejects.toThrow(/resolves to .*outside the allowed directories \(CERTCTL_DEPLOY_ALLOWED_ROOTS\)/);
    // The destination itself a link (to a file outside): never written through, nor replaced.
    writeFileSync(join(outside, 'cron'), 'original');
    symlinkSync(join(outside, 'cron'), join(dir, 'c.pem'));
    await expect(apply({ files: [{ path: join(dir, 'c.pem'), content: 'CERT' }] })).rejects.toThrow(/is a symbolic link/);
    expect(readFileSync(join(outside, 'cron'), 'utf8')).toBe('original');
    expect(readdirSync(outside).sort()).toEqual(['cron']);
    // A link that stays inside the root is fine: the real directory is what is checked.
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    await apply({ files: [{ path: join(dir, 'alias', 'c.pem'), content: 'CERT' }] });
    expect(readFileSync(join(dir, 'real', 'c.pem'), 'utf8')).toBe('CERT');
  });
});
