import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { quickMode } from './rounds';

/**
 * Where a bench writes its results: bench/results/<name>.json, except in BENCH_QUICK=1 mode, whose figures are not
 * results and must not replace the last real ones (it writes <tmpdir>/certctl-bench-<name>.quick.json instead).
 */
export function resultsFile(name: string): string {
  // Relative to dist/bench/lib.
  return quickMode() ? join(tmpdir(), `certctl-bench-${name}.quick.json`) : resolve(__dirname, '..', '..', '..', 'bench', 'results', `${name}.json`);
}

export function writeResultsFile(file: string, report: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
