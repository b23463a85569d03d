import { int as integer } from './config';

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
  /**
   * Lease of the per-target deploy lock, renewed every third of it while the deploy runs: a replica that dies holding
   * a lock frees it after this long at most.
   */
  lockLeaseMs: number;
}

/** Read from the environment like the rest of the configuration (upstream's CERTCTL_DEPLOY_BACKUP_RETENTION). */
export function loadDeployConfig(env: Env = process.env): DeployConfig {
  return {
    backupRetention: integer(env, 'CERTCTL_DEPLOY_BACKUP_RETENTION', 3, -1, 100),
    concurrency: integer(env, 'CERTCTL_DEPLOY_CONCURRENCY', 32, 1, 512),
    commandTimeoutMs: integer(env, 'CERTCTL_DEPLOY_COMMAND_TIMEOUT_SECONDS', 30, 1, 3600) * 1000,
    lockLeaseMs: integer(env, 'CERTCTL_DEPLOY_LOCK_LEASE_SECONDS', 20, 3, 600) * 1000,
  };
}
