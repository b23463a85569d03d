import { describe, expect, it } from 'vitest';
import { CheckState, nextState, transitionAlert } from './health-transition';

const state = (over: Partial<CheckState> = {}): CheckState =>
  ({ status: 'healthy', consecutive_failures: 0, degraded_threshold: 2, down_threshold: 5, ...over });

describe('health check transitions', () => {
  it('is healthy when the expected certificate is served and cert_mismatch when another one is', () => {
    expect(nextState(state({ status: 'down', consecutive_failures: 7 }), { reached: true, matches: true })).toEqual({ status: 'healthy', consecutive_failures: 0 });
    expect(nextState(state(), { reached: true, matches: false })).toEqual({ status: 'cert_mismatch', consecutive_failures: 0 });
  });

  it('counts failures up to degraded at the degraded threshold and down at the down threshold', () => {
    let s = state();
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      s = { ...s, ...nextState(s, { reached: false }) };
      seen.push(`${s.status}/${s.consecutive_failures}`);
    }
    expect(seen).toEqual(['healthy/1', 'degraded/2', 'degraded/3', 'degraded/4', 'down/5', 'down/6']);
  });

  it('keeps a never-reached check unknown below the threshold, and a mismatch a mismatch', () => {
    expect(nextState(state({ status: 'unknown' }), { reached: false }).status).toBe('unknown');
    expect(nextState(state({ status: 'cert_mismatch' }), { reached: false }).status).toBe('cert_mismatch');
  });

  it('alerts on every move into trouble and on recovery, not on the first success of a new check', () => {
    expect(transitionAlert('healthy', 'degraded')).toBe('HealthCheckDegraded');
    expect(transitionAlert('degraded', 'down')).toBe('HealthCheckDown');
    expect(transitionAlert('healthy', 'cert_mismatch')).toBe('HealthCheckCertMismatch');
    expect(transitionAlert('down', 'healthy')).toBe('HealthCheckRecovered');
    expect(transitionAlert('unknown', 'healthy')).toBeUndefined();
    expect(transitionAlert('down', 'down')).toBeUndefined();
  });
});
