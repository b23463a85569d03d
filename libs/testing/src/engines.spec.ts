import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..', '..', '..');
// semver is in the installed tree (a dependency of several packages, hoisted); npm checks engines with it.
const semver = createRequire(__filename)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

interface LockEntry { version?: string; engines?: { node?: string } | string[]; optional?: boolean }

/**
 * `npm ci` warns (EBADENGINE) for every installed package whose engines exclude the running Node. The project
 * declares Node >= 20.19: every package the lockfile installs must accept the oldest Node we claim.
 */
describe('declared engines', () => {
  const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync(resolve(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const oldestNode = semver.minVersion(pkg.engines.node)!.version;

  it('every locked package accepts the oldest Node the project declares', () => {
    expect(oldestNode).toBe('20.19.0');
    const refusing = Object.entries(lock.packages)
      .filter(([, entry]) => !Array.isArray(entry.engines) && typeof entry.engines?.node === 'string')
      .filter(([, entry]) => !semver.satisfies(oldestNode, (entry.engines as { node: string }).node))
      .map(([path, entry]) => `${path}@${entry.version} (node ${(entry.engines as { node: string }).node})`);
    expect(refusing).toEqual([]);
  });

  it('nestjs-pino is gone (it needs Node 22); logging is our own module on pino', () => {
    expect(Object.keys(lock.packages).filter((p) => p.endsWith('node_modules/nestjs-pino'))).toEqual([]);
    expect(lock.packages['node_modules/file-type']?.version ?? '21.3.4').toBe('21.3.4');
  });
});
