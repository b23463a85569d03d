import { ConfigError, loadConfig } from './config';
import { loadDeployConfig } from './deploy-config';

type Env = Record<string, string | undefined>;

/** Values shipped as placeholders (.env.example, the Secret templates): never a real secret. */
const PLACEHOLDER = /change[-_ ]?me/i;

/**
 * Outside demo mode (CERTCTL_DEMO_MODE=true), a CERTCTL_* value that is still a template placeholder
 * (`CHANGE-ME…`, `change-me-to-a-long-random-string`) stops the process: running with a published key is worse
 * than not starting.
 */
export function refusePlaceholders(env: Env, demoMode: boolean): void {
  if (demoMode) return;
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CERTCTL_') || value === undefined || !PLACEHOLDER.test(value)) continue;
    throw new ConfigError(name, 'is still a placeholder value from a template; set a real secret (or CERTCTL_DEMO_MODE=true for a local demo)');
  }
}

let known: Set<string> | undefined;

/** Every CERTCTL_* name the configuration reads: recorded by loading it once from an empty environment. */
export function knownVariables(): Set<string> {
  if (known) return known;
  const names = new Set<string>();
  const recorder = new Proxy({} as Env, {
    get(target, key) {
      if (typeof key === 'string' && key.startsWith('CERTCTL_')) names.add(key);
      return Reflect.get(target, key);
    },
  });
  try {
    loadConfig(recorder);
  } catch {
    // defaults always load; the names read until then are recorded anyway
  }
  loadDeployConfig(recorder);
  known = names;
  return names;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

export interface UnknownVariable { variable: string; didYouMean?: string }

/**
 * CERTCTL_* variables nobody reads (a typo silently leaves the default in force), each with the nearest known
 * name when one is close. CERTCTL_TEST_* belong to the test harness.
 */
export function unknownVariables(env: Env): UnknownVariable[] {
  const names = knownVariables();
  const out: UnknownVariable[] = [];
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith('CERTCTL_') || variable.startsWith('CERTCTL_TEST_') || names.has(variable)) continue;
    let best: { name: string; distance: number } | undefined;
    for (const name of names) {
      const distance = editDistance(variable, name);
      if (!best || distance < best.distance) best = { name, distance };
    }
    const close = best && best.distance <= Math.max(3, Math.floor(variable.length / 5));
    out.push(close ? { variable, didYouMean: best!.name } : { variable });
  }
  return out;
}
