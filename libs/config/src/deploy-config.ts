import { ConfigError, int as integer } from './config';
// The policy grammar lives with the deploy code that enforces it (a pure file, shared with the agent's bundle).
import {
  ALLOWED_ROOTS_SETTING, COMMAND_ALLOWLIST_SETTING, COMMAND_USER_SETTING, CommandPattern, DEFAULT_ALLOWED_ROOTS, DEFAULT_COMMAND_ALLOWLIST,
  parseAllowedRoots, parseCommandAllowlist,
} from '../../deploy/src/policy';

export { ALLOWED_ROOTS_SETTING, COMMAND_ALLOWLIST_SETTING, COMMAND_USER_SETTING, DEFAULT_ALLOWED_ROOTS, DEFAULT_COMMAND_ALLOWLIST };

type Env = Record<string, string | undefined>;

/** Settings of the deploy worker (orchestrator) and of target tests in the api. */
export interface DeployConfig {
  /** Backups kept per deployed file; -1 keeps none (and so cannot roll back). */
  backupRetention: number;
  /**
   * Deployments one orchestrator process runs at once (different targets; one target is always serialised). Jobs
   * mostly wait on commands and remote hosts, and those running together share their database writes, so the
   * default is well above the core count.
   */
  concurrency: number;
  /** Longest a validate or reload command may run. */
  commandTimeoutMs: number;
  /** How long POST /targets/{id}/test waits for the orchestrator's answer (default: the command timeout + 15 s). */
  testTimeoutMs: number;
  /** Validate/reload commands a target config may name (argv patterns, see libs/deploy/src/policy.ts). */
  commandAllowlist: CommandPattern[];
  /** Directories under which target files may be written. */
  allowedRoots: string[];
  /** `user[:group]` config commands run as when the deploying process is root; resolved where commands run. */
  commandUser: string | undefined;
  /**
   * Lease of the per-target deploy lock, renewed every third of it while the deploy runs: a replica that dies holding
   * a lock frees it after this long at most.
   */
  lockLeaseMs: number;
}

/** Read from the environment like the rest of the configuration (upstream's CERTCTL_DEPLOY_BACKUP_RETENTION). */
export function loadDeployConfig(env: Env = process.env): DeployConfig {
  const commandTimeoutSeconds = integer(env, 'CERTCTL_DEPLOY_COMMAND_TIMEOUT_SECONDS', 30, 1, 3600);
  return {
    backupRetention: integer(env, 'CERTCTL_DEPLOY_BACKUP_RETENTION', 3, -1, 100),
    concurrency: integer(env, 'CERTCTL_DEPLOY_CONCURRENCY', 32, 1, 512),
    commandTimeoutMs: commandTimeoutSeconds * 1000,
    // Long enough for the validate command plus a queue round trip unless set.
    testTimeoutMs: integer(env, 'CERTCTL_DEPLOY_TEST_TIMEOUT_SECONDS', commandTimeoutSeconds + 15, 1, 3700) * 1000,
    commandAllowlist: parsed(env, COMMAND_ALLOWLIST_SETTING, DEFAULT_COMMAND_ALLOWLIST, parseCommandAllowlist),
    allowedRoots: parsed(env, ALLOWED_ROOTS_SETTING, DEFAULT_ALLOWED_ROOTS, parseAllowedRoots),
    commandUser: commandUser(env),
    lockLeaseMs: integer(env, 'CERTCTL_DEPLOY_LOCK_LEASE_SECONDS', 20, 3, 600) * 1000,
  };
}

function parsed<T>(env: Env, name: string, fallback: string, parse: (text: string) => T[]): T[] {
  const raw = env[name];
  try {
    const value = parse(raw === undefined || raw.trim() === '' ? fallback : raw);
    if (!value.length) throw new Error('must name at least one entry');
    return value;
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

function commandUser(env: Env): string | undefined {
  const raw = env[COMMAND_USER_SETTING]?.trim();
  if (!raw) return undefined;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(raw)) throw new ConfigError(COMMAND_USER_SETTING, `must be "user" or "user:group", got "${raw}"`);
  return raw;
}
