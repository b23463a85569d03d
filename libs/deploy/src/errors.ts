/** Where in a deployment something went wrong; the deploy counters and the job row use it. */
export type DeployStage = 'plan' | 'config' | 'validate' | 'reload' | 'post_verify' | 'transport';

/** What happened to the live files after a failed reload or verification. */
export type RollbackOutcome = 'restored' | 'also_failed';

/** Base of every deployment failure: each outcome has its own class so callers never parse messages. */
export class DeployError extends Error {
  constructor(
    readonly stage: DeployStage,
    message: string,
    readonly rollback: RollbackOutcome | null = null,
    readonly backupPaths: string[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** Failures that another attempt cannot fix (bad plan, bad config, a validate step that rejected the files). */
  get permanent(): boolean {
    return this.stage === 'plan' || this.stage === 'config' || this.stage === 'validate';
  }
}

/** The plan itself is wrong (no files, relative or duplicate paths, a key mode that is too open). */
export class PlanInvalidError extends DeployError {
  constructor(message: string) {
    super('plan', message);
  }
}

/** A target config field is missing or unsafe; `field` names it (the API answers 400 with it). */
export class TargetConfigError extends DeployError {
  constructor(readonly field: string, readonly problem: string) {
    super('config', `${field}: ${problem}`);
  }
}

/** The validate step rejected the new files; the live files were never touched. */
export class ValidateFailedError extends DeployError {
  constructor(message: string) {
    super('validate', `validate failed: ${message}`);
  }
}

/** The reload failed; every file was restored and the reload run again successfully ("rolled back"). */
export class ReloadFailedError extends DeployError {
  constructor(message: string, backupPaths: string[]) {
    super('reload', `reload failed, rolled back: ${message}`, 'restored', backupPaths);
  }
}

/** The served certificate was not the deployed one; the files were restored and reloaded. */
export class PostVerifyFailedError extends DeployError {
  constructor(message: string, backupPaths: string[], readonly servedFingerprint: string | null) {
    super('post_verify', `post-deploy verification failed, rolled back: ${message}`, 'restored', backupPaths);
  }
}

/** Restoring after a failed reload or verification failed too: an operator must look (backups listed). */
export class RollbackFailedError extends DeployError {
  constructor(stage: 'reload' | 'post_verify', cause: string, rollbackError: string, backupPaths: string[]) {
    super(stage, `${stage === 'reload' ? 'reload' : 'post-deploy verification'} failed (${cause}); rollback also failed: ${rollbackError}; backups: ${backupPaths.join(', ') || 'none'}`,
      'also_failed', backupPaths);
  }
}

/** Connecting to or talking with a remote target (SSH, an admin API, Kubernetes) failed; worth retrying. */
export class TransportError extends DeployError {
  constructor(message: string) {
    super('transport', message);
  }
}

/**
 * The deploy lock was lost before the deploy committed (its lease ran out unrenewed, or another holder took the target
 * with a newer fencing token): this attempt stops without writing, and the job is retried.
 */
export class LeaseLostError extends TransportError {
  constructor(readonly lock: string, readonly fence: number, reason: string) {
    super(`deploy lock on ${lock} lost (fencing token ${fence}): ${reason}; nothing was committed, the deployment will be retried`);
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
