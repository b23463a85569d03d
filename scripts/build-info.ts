import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Part of `npm run build`: records what was built in dist/build-info.json, which GET /api/v1/version reports
 * (certctl reads the same facts from Go's embedded VCS settings). Outside a git checkout (a source tarball, a
 * Docker context without .git) the commit is empty and `modified` false, as certctl reports a non-VCS build.
 */
function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

const commit = git(['rev-parse', 'HEAD']) ?? '';
// Uncommitted changes to tracked files (untracked files do not change what was built from the commit).
const modified = commit !== '' && (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
const info = { commit, modified, build_time: new Date().toISOString() };
writeFileSync(resolve(process.argv[2] ?? 'dist/build-info.json'), `${JSON.stringify(info)}\n`);
