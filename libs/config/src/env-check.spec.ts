import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config';
import { knownVariables, unknownVariables } from './env-check';

const ROOT = resolve(__dirname, '..', '..', '..');

/** The values shipped in .env.example and the Secret template: placeholders, not secrets. */
function templateValues(): Array<[string, string]> {
  const fromEnvExample = readFileSync(resolve(ROOT, '.env.example'), 'utf8').split('\n')
    .map((line) => /^(CERTCTL_[A-Z0-9_]+)=(.+)$/.exec(line.trim())).filter((m): m is RegExpExecArray => !!m)
    .map((m) => [m[1]!, m[2]!] as [string, string]);
  const fromSecretTemplate = readFileSync(resolve(ROOT, 'k8s/base/secret-template/secrets.yaml'), 'utf8').split('\n')
    .map((line) => /^\s+(CERTCTL_[A-Z0-9_]+):\s*(.+)$/.exec(line)).filter((m): m is RegExpExecArray => !!m)
    .map((m) => [m[1]!, m[2]!.trim()] as [string, string]);
  return [...fromEnvExample, ...fromSecretTemplate].filter(([, value]) => /change/i.test(value));
}

describe('placeholder secrets', () => {
  const placeholders = templateValues();

  it('finds the template placeholders to test with', () => {
    expect(placeholders.map(([name]) => name)).toEqual(expect.arrayContaining(['CERTCTL_API_KEY', 'CERTCTL_CONFIG_ENCRYPTION_KEY', 'CERTCTL_DATABASE_URL']));
  });

  it.each(templateValues())('refuses %s=%s outside demo mode, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name} is still a placeholder`));
  });

  it('accepts them in demo mode, and real values anywhere', () => {
    for (const [name, value] of placeholders) expect(() => loadConfig({ [name]: value, CERTCTL_DEMO_MODE: 'true' })).not.toThrow();
    expect(loadConfig({ CERTCTL_API_KEY: 'a-real-random-admin-key-0f3c9' }).demoMode).toBe(false);
  });
});

describe('misspelled variables', () => {
  it('knows the names the configuration reads', () => {
    const names = knownVariables();
    for (const name of ['CERTCTL_DATABASE_URL', 'CERTCTL_SMTP_HOST', 'CERTCTL_DEPLOY_CONCURRENCY', 'CERTCTL_NETWORK_SCAN_RATE_LIMIT', 'CERTCTL_DEMO_MODE']) {
      expect(names.has(name), name).toBe(true);
    }
  });

  it('reports unknown CERTCTL_* names with the nearest known one; known, test and foreign names are quiet', () => {
    expect(unknownVariables({
      CERTCTL_DATABSE_URL: 'postgres://x/y',
      CERTCTL_SMTP_HOSTNAME: 'mail',
      CERTCTL_SOMETHING_ELSE_ENTIRELY_DIFFERENT: '1',
      CERTCTL_DATABASE_URL: 'postgres://x/y',
      CERTCTL_TEST_RUN_ID: 'abc',
      HOME: '/root',
    })).toEqual([
      { variable: 'CERTCTL_DATABSE_URL', didYouMean: 'CERTCTL_DATABASE_URL' },
      { variable: 'CERTCTL_SMTP_HOSTNAME', didYouMean: 'CERTCTL_SMTP_HOST' },
      { variable: 'CERTCTL_SOMETHING_ELSE_ENTIRELY_DIFFERENT' },
    ]);
  });
});
