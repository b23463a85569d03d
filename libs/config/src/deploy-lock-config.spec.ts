import { describe, expect, it } from 'vitest';
import { ConfigError } from './config';
import { loadDeployConfig } from './deploy-config';

describe('CERTCTL_DEPLOY_LOCK_LEASE_SECONDS', () => {
  it('defaults to a 20 s lease and takes whole seconds', () => {
    expect(loadDeployConfig({}).lockLeaseMs).toBe(20_000);
    expect(loadDeployConfig({ CERTCTL_DEPLOY_LOCK_LEASE_SECONDS: '45' }).lockLeaseMs).toBe(45_000);
  });

  it('refuses a lease too short to renew reliably, or not a number, naming the variable', () => {
    for (const bad of ['2', '601', '10s', 'x']) {
      expect(() => loadDeployConfig({ CERTCTL_DEPLOY_LOCK_LEASE_SECONDS: bad })).toThrow(ConfigError);
      expect(() => loadDeployConfig({ CERTCTL_DEPLOY_LOCK_LEASE_SECONDS: bad })).toThrow(/CERTCTL_DEPLOY_LOCK_LEASE_SECONDS/);
    }
  });
});
