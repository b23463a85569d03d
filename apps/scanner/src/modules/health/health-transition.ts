import type { HealthStatus, NotificationType } from '@certctl/contracts';

/** What a check's state needs for the next transition. */
export interface CheckState {
  status: HealthStatus;
  consecutive_failures: number;
  degraded_threshold: number;
  down_threshold: number;
}

/** A probe that completed a handshake (`matches`: the served leaf is the expected one) or one that failed. */
export type ProbeVerdict = { reached: true; matches: boolean } | { reached: false };

/**
 * certctl's state machine (§10.6): a reached endpoint is `healthy`, or `cert_mismatch` when it serves another
 * certificate than expected; failures count up and make it `degraded` at `degraded_threshold` and `down` at
 * `down_threshold`. Below the threshold a check keeps its status, except that we keep a check that has never
 * been reached `unknown` (upstream calls it healthy, which no probe has shown).
 */
export function nextState(state: CheckState, verdict: ProbeVerdict): { status: HealthStatus; consecutive_failures: number } {
  if (verdict.reached) return { status: verdict.matches ? 'healthy' : 'cert_mismatch', consecutive_failures: 0 };
  const failures = state.consecutive_failures + 1;
  if (failures >= state.down_threshold) return { status: 'down', consecutive_failures: failures };
  if (failures >= state.degraded_threshold) return { status: 'degraded', consecutive_failures: failures };
  return { status: state.status, consecutive_failures: failures };
}

/** The alert a transition raises, if any: every move into trouble, and the way back out of it. */
export function transitionAlert(from: HealthStatus, to: HealthStatus): NotificationType | undefined {
  if (from === to) return undefined;
  switch (to) {
    case 'degraded': return 'HealthCheckDegraded';
    case 'down': return 'HealthCheckDown';
    case 'cert_mismatch': return 'HealthCheckCertMismatch';
    case 'healthy': return from === 'unknown' ? undefined : 'HealthCheckRecovered';
    default: return undefined;
  }
}
