import type { RollbackOutcome } from './errors';

/** How one deployment ended, as the orchestrator or an agent reports it. */
export interface DeployReport {
  targetType: string;
  success: boolean;
  skippedAsIdempotent?: boolean;
  /** The stage that failed, for failures. */
  failedStage?: 'validate' | 'reload' | 'post_verify' | 'other' | null;
  rollback?: RollbackOutcome | null;
}

export const DEPLOY_COUNTERS = {
  attempts: 'certctl_deploy_attempts_total',
  validateFailures: 'certctl_deploy_validate_failures_total',
  reloadFailures: 'certctl_deploy_reload_failures_total',
  postVerifyFailures: 'certctl_deploy_post_verify_failures_total',
  rollbacks: 'certctl_deploy_rollback_total',
  idempotentSkips: 'certctl_deploy_idempotent_skip_total',
} as const;

/** The counter increments of one deployment (spec §5.3: eight counters per target type, six families). */
export function deployCounterIncrements(r: DeployReport): Array<{ name: string; labels: Record<string, string> }> {
  const t = { target_type: r.targetType };
  const out: Array<{ name: string; labels: Record<string, string> }> = [
    { name: DEPLOY_COUNTERS.attempts, labels: { ...t, result: r.success ? 'success' : 'failure' } },
  ];
  if (r.success && r.skippedAsIdempotent) out.push({ name: DEPLOY_COUNTERS.idempotentSkips, labels: t });
  if (!r.success) {
    if (r.failedStage === 'validate') out.push({ name: DEPLOY_COUNTERS.validateFailures, labels: t });
    if (r.failedStage === 'reload') out.push({ name: DEPLOY_COUNTERS.reloadFailures, labels: t });
    if (r.failedStage === 'post_verify') out.push({ name: DEPLOY_COUNTERS.postVerifyFailures, labels: t });
    if (r.rollback) out.push({ name: DEPLOY_COUNTERS.rollbacks, labels: { ...t, outcome: r.rollback } });
  }
  return out;
}
