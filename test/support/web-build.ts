import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
export const WEB_DIST = resolve(ROOT, 'dist', 'web');

/**
 * The api serves the console from dist/web. `npm test` builds it first (pretest); a single test file run on
 * its own builds it here if it is missing, so the api under test serves the current sources.
 */
export function ensureWebBuild(): void {
  if (existsSync(resolve(WEB_DIST, 'index.html'))) return;
  execFileSync(process.execPath, [resolve(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'apps/web/vite.config.mts', '--logLevel', 'warn'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}
