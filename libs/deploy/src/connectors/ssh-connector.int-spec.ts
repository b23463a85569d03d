import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from '../errors';
import { TestCa } from '../testing/material';
import { missingPeer, SshdPeer } from '../testing/peers';
import { SshConnector } from './ssh-connector';

const missing = missingPeer('sshd', 'ssh-keygen');
if (missing && process.env.CI !== 'true') console.warn(`[ssh-connector.int-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('SSH connector against a real sshd', () => {
  let sshd: SshdPeer;
  let ca: TestCa;
  const ssh = new SshConnector();
  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and sshd cannot run: ${missing}`);
    sshd = await SshdPeer.start();
    ca = await TestCa.create();
  });
  afterAll(() => sshd?.stop());

  const config = (overrides: Record<string, unknown> = {}) => ({
    host: '127.0.0.1', port: sshd.port, user: 'root', private_key_path: sshd.clientKeyPath, host_key_fingerprint: sshd.hostKeyFingerprint,
    cert_path: sshd.scratch.path('remote-cert.pem'), chain_path: sshd.scratch.path('remote-chain.pem'), key_path: sshd.scratch.path('remote-key.pem'),
    validate_command: 'openssl x509 -noout -in {cert_path}', ...overrides,
  });

  it('uploads with modes over SFTP, validates the uploaded temp file remotely, then skips an identical redeploy', async () => {
    const material = await ca.issue();
    const first = await ssh.deploy(config(), material, {});
    expect(first).toMatchObject({ skippedAsIdempotent: false, validateOk: true });
    expect(readFileSync(sshd.scratch.path('remote-cert.pem'), 'utf8')).toBe(material.certPem);
    expect(readFileSync(sshd.scratch.path('remote-chain.pem'), 'utf8')).toBe(material.chainPem);
    expect(statSync(sshd.scratch.path('remote-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(sshd.scratch.path('remote-cert.pem')).mode & 0o777).toBe(0o644);
    expect((await ssh.deploy(config(), material, {})).skippedAsIdempotent).toBe(true);
    expect(await ssh.validateOnly(config())).toMatch(/host key pinned.*succeeded/);
  });

  it('a remote validate failure leaves the remote files as they were', async () => {
    const before = readFileSync(sshd.scratch.path('remote-cert.pem'), 'utf8');
    const err = await ssh.deploy(config({ validate_command: 'ls /nonexistent-dir' }), await ca.issue(), {}).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/validate failed: ls: exited with status 2/);
    expect(readFileSync(sshd.scratch.path('remote-cert.pem'), 'utf8')).toBe(before);
  });

  it('refuses a host whose key is not the pinned one', async () => {
    const other = 'SHA256:' + 'A'.repeat(43);
    const err = await ssh.deploy(config({ host_key_fingerprint: other }), await ca.issue(), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/host key does not match/);
  });

  it('names the missing field of an incomplete config', () => {
    expect(() => ssh.validateConfig({ ...config(), host_key_fingerprint: undefined })).toThrow(/host_key_fingerprint: is required/);
    expect(() => ssh.validateConfig({ ...config(), auth_method: 'password' })).toThrow(/password: is required/);
    expect(() => ssh.validateConfig({ ...config(), reload_command: 'systemctl reload nginx && rm -rf /' })).toThrow(/reload_command: must not contain shell metacharacters/);
  });
});
