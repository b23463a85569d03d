import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sources(path);
    return /\.(ts|mts)$/.test(name) ? [path] : [];
  });
}

/**
 * Two test runs share this machine: every listener a test opens takes freePort() (or port 0), never a fixed number,
 * even on a loopback address of its own (127.77.x.y), since another run uses the same addresses.
 */
describe('tests bind no fixed port', () => {
  it('no listen(<number>, …) and no TLS/silent listener on a literal port in tests and test peers', () => {
    const files = [...sources(join(ROOT, 'test')), ...sources(join(ROOT, 'libs')).filter((f) => /spec\.ts$|[/\\]testing[/\\]/.test(f))];
    const fixed = /\.listen\(\s*[1-9]\d{1,4}\s*[,)]|start(?:Tls|Silent)Listener\([^,]+,\s*[1-9]\d{1,4}\s*[,)]/;
    const offenders = files.flatMap((file) => readFileSync(file, 'utf8').split('\n')
      .map((line, i) => (fixed.test(line) ? `${relative(ROOT, file)}:${i + 1}: ${line.trim()}` : undefined))
      .filter((x): x is string => x !== undefined));
    expect(offenders).toEqual([]);
  });
});
