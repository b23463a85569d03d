import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDeployPolicy } from '@certctl/testing';
import { CommandError, commandProblem, runCommand, splitCommand } from './command';
import { TargetConfigError } from './errors';
import { validateTargetConfig } from './connectors/registry';
import { TestCa } from './testing/material';
import { keyMismatch, leafFingerprint, VerificationMismatch, verifyServedCertificate } from './verify';

// The tests' allow-list (scripts in temp directories, a few coreutils), as an administrator would set it.
beforeAll(() => useTestDeployPolicy(['echo ...', 'ls ...', 'sleep *']));

describe('commands from target configs', () => {
  it('refuses shell metacharacters', () => {
    for (const cmd of ['nginx -t; rm -rf /', 'a | b', 'echo $(id)', 'echo `id`', 'a && b', 'a > /etc/x', 'a\nb', 'echo ${HOME}']) {
      expect(commandProblem(cmd), cmd).toMatch(/metacharacters/);
    }
    expect(commandProblem('nginx -p /srv/nginx -s reload')).toBeUndefined();
    expect(commandProblem('  ')).toBe('must not be empty');
  });

  it('splits into argv with quotes grouping words, and never uses a shell', async () => {
    expect(splitCommand(`openssl x509 -in "/a dir/c.pem" -noout`)).toEqual(['openssl', 'x509', '-in', '/a dir/c.pem', '-noout']);
    expect(await runCommand('echo "*" {cert_path}', { placeholders: { cert_path: '/tmp/x y' } })).toBe('* /tmp/x y\n');
  });

  it('reports the exit status and nothing of the output (kept apart for a debug log), and kills a command at its timeout', async () => {
    const err = await runCommand('ls /definitely/missing').catch((e: Error) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as Error).message).toBe('ls: exited with status 2');
    expect((err as CommandError).outputTail).toMatch(/No such file/);
    expect(JSON.stringify(err)).not.toMatch(/No such file/);
    const started = Date.now();
    await expect(runCommand('sleep 5', { timeoutMs: 200 })).rejects.toThrow(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect(runCommand('a;b')).rejects.toThrow(/refused command/);
  });

  it('drops NUL bytes from the output it keeps for the debug log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'command-nul-'));
    try {
      const script = join(dir, 'nul.sh');
      writeFileSync(script, "#!/bin/sh\nprintf 'bad\\000byte' >&2\nexit 3\n", { mode: 0o755 });
      const err = await runCommand(script).catch((e: Error) => e);
      expect((err as Error).message).toMatch(/exited with status 3$/);
      expect((err as CommandError).outputTail).toBe('badbyte');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('target config validation names the field', () => {
  const problem = (type: string, config: Record<string, unknown>) => {
    try {
      validateTargetConfig(type, config);
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(TargetConfigError);
      return (err as TargetConfigError).field;
    }
  };
  it.each([
    ['NGINX', { key_path: '/etc/nginx/k', reload_command: 'true', validate_command: 'true' }, 'cert_path'],
    ['NGINX', { cert_path: 'relative/c.pem', reload_command: 'true', validate_command: 'true' }, 'cert_path'],
    ['NGINX', { cert_path: '/etc/../c.pem', reload_command: 'true', validate_command: 'true' }, 'cert_path'],
    ['NGINX', { cert_path: '/etc/nginx/c', reload_command: 'nginx -s reload; id', validate_command: 'true' }, 'reload_command'],
    ['NGINX', { cert_path: '/etc/nginx/c', reload_command: 'true', validate_command: 'nginx -t | tee' }, 'validate_command'],
    ['NGINX', { cert_path: '/etc/nginx/c', reload_command: 'true', validate_command: 'echo $(id)' }, 'validate_command'],
    ['NGINX', { cert_path: '/etc/nginx/c', reload_command: 'true', validate_command: 'echo `id`' }, 'validate_command'],
    ['NGINX', { cert_path: '/etc/nginx/c', reload_command: 'true' }, 'validate_command'],
    ['Apache', { cert_path: '/etc/nginx/c', key_path: '/etc/nginx/k', reload_command: 'true', validate_command: 'true' }, 'chain_path'],
    ['HAProxy', { reload_command: 'true' }, 'pem_path'],
    ['HAProxy', { pem_path: '/etc/haproxy/p', reload_command: 'true', pem_file_mode: '0644' }, 'pem_file_mode'],
    ['File', { cert_path: '/etc/ssl/c', key_path: 'k.pem' }, 'key_path'],
    ['Postfix', { mode: 'exim' }, 'mode'],
    ['Traefik', {}, 'cert_dir'],
    ['Envoy', { cert_dir: '/etc/envoy', cert_filename: '../x' }, 'cert_filename'],
    ['Caddy', { mode: 'file' }, 'cert_dir'],
    ['File', { cert_path: '/etc/ssl/c', post_deploy_verify: { enabled: true } }, 'post_deploy_verify.endpoint'],
    ['F5', {}, 'type'],
    // Outside the allowed directories, and commands outside the allow-list.
    ['File', { cert_path: '/etc/cron.d/x' }, 'cert_path'],
    ['File', { cert_path: '/etc/ssl/c', key_path: '/root/.ssh/authorized_keys' }, 'key_path'],
    ['HAProxy', { pem_path: '/etc/passwd', reload_command: 'true' }, 'pem_path'],
    ['Traefik', { cert_dir: '/var/spool/cron' }, 'cert_dir'],
    ['File', { cert_path: '/etc/ssl/c', validate_command: 'node -e "throw process.env.CERTCTL_API_KEY"' }, 'validate_command'],
    ['File', { cert_path: '/etc/ssl/c', reload_command: '/usr/bin/printenv CERTCTL_API_KEY' }, 'reload_command'],
    ['Postfix', { reload_command: 'postfix stop' }, 'reload_command'],
  ])('%s %j → %s', (type, config, field) => {
    expect(problem(type, config)).toBe(field);
  });

  it('accepts complete configs', () => {
    expect(problem('NGINX', { cert_path: '/etc/nginx/c.pem', key_path: '/etc/nginx/k.pem', reload_command: 'nginx -s reload', validate_command: 'nginx -t' })).toBeUndefined();
    expect(problem('Dovecot', {})).toBeUndefined();
    expect(problem('File', { cert_path: '/etc/ssl/c', post_deploy_verify: { endpoint: '127.0.0.1:8443' }, post_deploy_verify_backoff: '50ms' })).toBeUndefined();
  });
});

describe('key checks and post-deploy TLS verification', () => {
  it('detects a key that does not belong to the certificate', async () => {
    const ca = await TestCa.create();
    const [a, b] = [await ca.issue(), await ca.issue()];
    expect(keyMismatch(a.certPem, a.keyPem!)).toBeUndefined();
    expect(keyMismatch(a.certPem, b.keyPem!)).toBe('the private key does not match the certificate');
    expect(keyMismatch('junk', a.keyPem!)).toMatch(/not a valid/);
  });

  it('compares the leaf a TLS endpoint serves with the deployed one, retrying with backoff', async () => {
    const ca = await TestCa.create();
    const served = await ca.issue();
    const other = await ca.issue();
    const server = createServer({ cert: served.certPem + served.chainPem, key: served.keyPem! }, (s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      expect(await verifyServedCertificate({ host: '127.0.0.1', port, expectedFingerprint: leafFingerprint(served.certPem) })).toBe(leafFingerprint(served.certPem));
      const started = Date.now();
      const err = await verifyServedCertificate({ host: '127.0.0.1', port, expectedFingerprint: leafFingerprint(other.certPem), attempts: 3, initialBackoffMs: 50 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VerificationMismatch);
      expect((err as VerificationMismatch).servedFingerprint).toBe(leafFingerprint(served.certPem));
      expect(Date.now() - started).toBeGreaterThanOrEqual(150); // 50 + 100 ms between the three handshakes
    } finally {
      server.close();
    }
  });
});
