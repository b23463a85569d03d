import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** A bad configuration value stops a process at boot, with one line naming the variable. */
describe('configuration at boot', () => {
  const probe = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'test/support/config-probe.ts'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('starts with a valid environment', () => {
    const run = probe({ CERTCTL_SERVER_PORT: '9000' });
    expect(run.stdout).toContain('config accepted');
    expect(run.status).toBe(0);
  });

  it('exits 1 naming the variable when a value is bad', () => {
    const run = probe({ CERTCTL_SERVER_PORT: 'eighty' });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe('Invalid configuration: CERTCTL_SERVER_PORT must be an integer, got "eighty"');
    expect(run.stdout).not.toContain('config accepted');
  });
});
