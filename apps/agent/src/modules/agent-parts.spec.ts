import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCsr } from '@certctl/pki';
import { TestCa } from '../../../../libs/deploy/src/testing/material';
import { ConfigError, parseAgentArgs, resolveConfig } from '../config';
import { Backoff } from './protocol/backoff';
import { failureReport } from './deploy/deployer';
import { PostVerifyFailedError, ReloadFailedError, RollbackFailedError, TargetConfigError, ValidateFailedError } from '../../../../libs/deploy/src/errors';
import { Journal } from './journal/journal';
import { KeyStore, KeyStoreError } from './keys/key-store';

const home = mkdtempSync(join(tmpdir(), 'agent-parts-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const parse = (argv: string[]) => parseAgentArgs(argv).flags;
const base = { CERTCTL_SERVER_URL: 'https://certctl.example.com/', CERTCTL_AGENT_ID: 'ag-1', CERTCTL_API_KEY: 'k' };

describe('agent settings', () => {
  it('takes flags over the environment over the config file, with defaults for the rest', () => {
    const file = join(home, 'agent.json');
    writeFileSync(file, JSON.stringify({ server_url: 'https://from-file.example', agent_id: 'ag-file', poll_interval: '10s', discovery_dirs: ['/etc/ssl', '/srv'] }));
    const config = resolveConfig(parse(['--config', file, '--poll-interval', '2m']), { CERTCTL_AGENT_ID: 'ag-env', CERTCTL_API_KEY: 'secret' });
    expect(config).toMatchObject({
      serverUrl: 'https://from-file.example', agentId: 'ag-env', apiKey: 'secret', pollIntervalMs: 120_000, heartbeatIntervalMs: 60_000,
      keyDir: '/var/lib/certctl/keys', discoveryDirs: ['/etc/ssl', '/srv'], maxBackoffMs: 300_000,
    });
  });

  it('names the setting that is missing or wrong', () => {
    expect(() => resolveConfig(parse([]), {})).toThrow(/CERTCTL_SERVER_URL is required/);
    expect(() => resolveConfig(parse([]), { ...base, CERTCTL_API_KEY: '' })).toThrow(/CERTCTL_API_KEY is required/);
    expect(() => resolveConfig(parse(['--poll-interval', 'soon']), base)).toThrow(/--poll-interval: "soon" is not a duration/);
    expect(() => resolveConfig(parse([]), { ...base, CERTCTL_SERVER_URL: 'http://certctl.example.com' })).toThrow(/CERTCTL_SERVER_URL: use https/);
    expect(() => resolveConfig(parse([]), { ...base, CERTCTL_DISCOVERY_DIRS: 'relative/dir' })).toThrow(ConfigError);
    expect(resolveConfig(parse([]), { ...base, CERTCTL_SERVER_URL: 'http://127.0.0.1:8080' }).serverUrl).toBe('http://127.0.0.1:8080');
  });

  it('long-polls for 25 s by default with a 5 min fallback poll; "off" polls every 30 s; a bad wait is refused by name', () => {
    expect(resolveConfig(parse([]), base)).toMatchObject({ longPollWaitMs: 25_000, pollIntervalMs: 300_000 });
    expect(resolveConfig(parse(['--long-poll', 'off']), base)).toMatchObject({ longPollWaitMs: 0, pollIntervalMs: 30_000 });
    expect(resolveConfig(parse(['--long-poll', '1m', '--poll-interval', '10m']), base)).toMatchObject({ longPollWaitMs: 60_000, pollIntervalMs: 600_000 });
    expect(() => resolveConfig(parse([]), { ...base, CERTCTL_AGENT_LONG_POLL: '10m' })).toThrow(/CERTCTL_AGENT_LONG_POLL: must be whole seconds, at most 120s/);
    expect(() => resolveConfig(parse(['--long-poll', '1500ms']), base)).toThrow(/--long-poll: must be whole seconds/);
    expect(() => resolveConfig(parse(['--long-poll', 'soon']), base)).toThrow(/--long-poll: "soon" is not a duration/);
  });

  it('refuses a config file that holds the API key and others can read, and unknown fields', () => {
    const open = join(home, 'open.json');
    writeFileSync(open, JSON.stringify({ api_key: 'secret' }));
    chmodSync(open, 0o644);
    expect(() => resolveConfig(parse(['--config', open]), base)).toThrow(/chmod 600/);
    const typo = join(home, 'typo.json');
    writeFileSync(typo, JSON.stringify({ poll_intervall: '1s' }));
    expect(() => resolveConfig(parse(['--config', typo]), base)).toThrow(/unknown field "poll_intervall"/);
  });

  it('refuses unknown flags and flags without a value', () => {
    expect(() => parseAgentArgs(['--poll-intervall', '1s'])).toThrow(ConfigError);
    expect(() => parseAgentArgs(['--server-url'])).toThrow(/--server-url/);
  });

  it('has its own deploy policy, owned by the host\'s administrator: allow-list, allowed roots, command user', () => {
    const defaults = resolveConfig(parse([]), base).deployPolicy!;
    expect(defaults.allowedRoots).toContain('/etc/nginx');
    expect(defaults.commandAllowlist).toContainEqual(['nginx', '-t']);
    const file = join(home, 'policy.json');
    writeFileSync(file, JSON.stringify({ command_allowlist: ['/opt/hooks/check {path}', 'systemctl reload nginx'], allowed_roots: ['/srv/tls'] }));
    const own = resolveConfig(parse(['--config', file]), base).deployPolicy!;
    expect(own).toMatchObject({ commandAllowlist: [['/opt/hooks/check', '{path}'], ['systemctl', 'reload', 'nginx']], allowedRoots: ['/srv/tls'] });
    expect(() => resolveConfig(parse([]), { ...base, CERTCTL_DEPLOY_COMMAND_ALLOWLIST: '* -t' })).toThrow(/CERTCTL_DEPLOY_COMMAND_ALLOWLIST: pattern/);
    expect(() => resolveConfig(parse([]), { ...base, CERTCTL_DEPLOY_ALLOWED_ROOTS: 'tls' })).toThrow(/CERTCTL_DEPLOY_ALLOWED_ROOTS: "tls" is not an absolute path/);
    expect(() => resolveConfig(parse(['--command-user', 'no-such-user-here']), base)).toThrow(/--command-user: CERTCTL_DEPLOY_COMMAND_USER: user "no-such-user-here" does not exist/);
  });

  it('reads the key from --api-key-file', () => {
    const keyFile = join(home, 'api-key');
    writeFileSync(keyFile, 'from-a-file\n', { mode: 0o600 });
    expect(resolveConfig(parse(['--api-key-file', keyFile]), { ...base, CERTCTL_API_KEY: '' }).apiKey).toBe('from-a-file');
  });
});

describe('Backoff', () => {
  it('jitters the interval by ±10 % when healthy, doubles from the base up to the cap on failures', () => {
    const high = new Backoff({ intervalMs: 1000, baseMs: 100, maxMs: 1000 }, () => 1);
    const low = new Backoff({ intervalMs: 1000, baseMs: 100, maxMs: 1000 }, () => 0);
    expect([low.nextDelay(), high.nextDelay()]).toEqual([900, 1100]);
    expect([1, 2, 3, 4, 5, 6].map(() => high.failed())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3].map(() => low.failed())).toEqual([50, 100, 200]);
    expect(high.succeeded()).toBe(1100);
    expect(high.consecutiveFailures).toBe(0);
  });
});

describe('KeyStore', () => {
  it('writes a new key 0600 in a 0700 directory before the CSR, and the CSR carries the names', async () => {
    const store = new KeyStore(join(home, 'keys'));
    store.prepare();
    const csr = await parseCsr(await store.newCsr('mc-web', 'web.example.com', ['web.example.com', 'www.example.com']));
    expect(csr).toMatchObject({ commonName: 'web.example.com', sans: ['web.example.com', 'www.example.com'], keySpec: { algorithm: 'ECDSA', curve: 'P-256' } });
    expect(statSync(store.path('mc-web', 'next')).mode & 0o777).toBe(0o600);
    expect(statSync(store.dir).mode & 0o777).toBe(0o700);
  });

  it('refuses ids that would leave the key directory', () => {
    const store = new KeyStore(join(home, 'keys'));
    for (const id of ['../etc/passwd', '/abs', 'a/b', '..', '']) expect(() => store.path(id, 'current')).toThrow(KeyStoreError);
  });

  it('promotes the pending key once a certificate for it arrives, and keeps the current one otherwise', async () => {
    const store = new KeyStore(join(home, 'keys2'));
    store.prepare();
    const ca = await TestCa.create();
    const old = await ca.issue();
    writeFileSync(store.path('mc-x', 'current'), old.keyPem!, { mode: 0o600 });
    const next = await ca.issue();
    writeFileSync(store.path('mc-x', 'next'), next.keyPem!, { mode: 0o600 });
    expect(store.keyFor('mc-x', old.certPem)).toBe(old.keyPem); // the old version can still be redeployed
    expect(store.keyFor('mc-x', next.certPem)).toBe(next.keyPem);
    expect(readFileSync(store.path('mc-x', 'current'), 'utf8')).toBe(next.keyPem);
    const stranger = await ca.issue();
    expect(() => store.keyFor('mc-x', stranger.certPem)).toThrow(/no private key on this host matches/);
  });
});

describe('Journal', () => {
  it('keeps entries across instances (a restart) until removed', () => {
    const dir = join(home, 'journal');
    const first = new Journal(dir);
    first.prepare();
    const item = { id: 'job-1', type: 'Deployment', certificate_id: 'mc-1', common_name: 'a', sans: [], target_id: 't', target_type: 'NGINX', target_config: {}, status: 'Running' };
    first.putAll([{ kind: 'deploy', jobId: 'job-1', item, phase: 'deploying', resumes: 0, updatedAt: '' }]);
    const second = new Journal(dir);
    expect(second.entries()).toMatchObject([{ jobId: 'job-1', phase: 'deploying', item: { target_type: 'NGINX' } }]);
    expect(statSync(join(dir, 'job-1.json')).mode & 0o777).toBe(0o600);
    second.remove('job-1');
    expect(first.entries()).toEqual([]);
  });
});

describe('failureReport', () => {
  it('maps each deploy failure to its stage and rollback, as the server counts them', () => {
    expect(failureReport(new ValidateFailedError('nginx -t said no'))).toMatchObject({ status: 'Failed', failed_stage: 'validate' });
    expect(failureReport(new ValidateFailedError('x')).rollback).toBeUndefined();
    expect(failureReport(new ReloadFailedError('boom', ['/a.bak']))).toMatchObject({ failed_stage: 'reload', rollback: 'restored', backup_paths: ['/a.bak'] });
    expect(failureReport(new RollbackFailedError('reload', 'boom', 'disk full', []))).toMatchObject({ failed_stage: 'reload', rollback: 'also_failed' });
    expect(failureReport(new PostVerifyFailedError('other cert', [], 'ab12'))).toMatchObject({
      failed_stage: 'post_verify', rollback: 'restored', verification_status: 'failed', verification_fingerprint: 'ab12',
    });
    expect(failureReport(new TargetConfigError('cert_path', 'must be absolute'))).toMatchObject({ failed_stage: 'other', error: 'cert_path: must be absolute' });
    expect(failureReport(new Error('disk on fire'))).toMatchObject({ failed_stage: 'other', error: 'disk on fire' });
  });
});
