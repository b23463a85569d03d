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

  it('refuses a template placeholder secret outside demo mode, naming the variable', () => {
    const run = probe({ CERTCTL_API_KEY: 'change-me-to-a-long-random-string' });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe(
      'Invalid configuration: CERTCTL_API_KEY is still a placeholder value from a template; set a real secret (or CERTCTL_DEMO_MODE=true for a local demo)');
    expect(run.stdout).not.toContain('config accepted');
    const demo = probe({ CERTCTL_API_KEY: 'change-me-to-a-long-random-string', CERTCTL_DEMO_MODE: 'true' });
    expect(demo.status).toBe(0);
  });

  it('reports a misspelled CERTCTL_* variable with the nearest known name, and still starts', () => {
    const run = probe({ CERTCTL_SEVRER_PORT: '9000' });
    expect(run.status).toBe(0);
    const warnings = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warnings).toEqual([expect.objectContaining({
      level: 40, variable: 'CERTCTL_SEVRER_PORT', didYouMean: 'CERTCTL_SERVER_PORT',
      msg: 'unknown configuration variable CERTCTL_SEVRER_PORT (did you mean CERTCTL_SERVER_PORT?); it is ignored',
    })]);
  });
});
