import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand, splitCommand } from './command';
import {
  commandAllowed, commandProcessOptions, DEFAULT_ALLOWED_ROOTS, DEFAULT_COMMAND_ALLOWLIST, deployPolicy, deployPolicyOf, parseAllowedRoots,
  parseCommandAllowlist, pathUnderRoots, useDeployPolicy,
} from './policy';

const defaults = parseCommandAllowlist(DEFAULT_COMMAND_ALLOWLIST);
const allowed = (command: string, patterns = defaults) => commandAllowed(splitCommand(command), patterns);

describe('command allow-list', () => {
  it('permits the packaged daemons\' validate and reload commands by default, by name or from a system directory', () => {
    for (const command of [
      'nginx -t', '/usr/sbin/nginx -s reload', 'apachectl configtest', 'apache2ctl graceful', 'haproxy -c -f {pem_path}',
      'haproxy -c -f /etc/haproxy/haproxy.cfg', 'systemctl reload nginx', 'postfix check', 'postfix reload', 'doveconf -n', 'doveadm reload',
      'caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile',
    ]) expect(allowed(command), command).toBe(true);
  });

  it('refuses anything else: other programs, other arguments, look-alikes outside the system directories, options through a wildcard', () => {
    for (const command of [
      'node -e "throw process.env.CERTCTL_API_KEY"', '/usr/bin/printenv CERTCTL_API_KEY', 'sh -c id', 'nginx', 'nginx -t -c /tmp/evil.conf',
      'nginx -s stop', '/tmp/nginx -t', './nginx -t', 'systemctl stop nginx', 'systemctl reload', 'systemctl reload --all',
      'haproxy -c -f relative.cfg', 'haproxy -c -f /etc/../etc/shadow', 'postfix check extra',
    ]) expect(allowed(command), command).toBe(false);
  });

  it('parses "*" in a word, {path} and a trailing "..."; separators are newlines and ";"', () => {
    const patterns = parseCommandAllowlist('/opt/bin/check-*.sh {path} ...; /usr/local/bin/reload-tls\n  systemctl reload nginx-*  ');
    expect(patterns).toEqual([['/opt/bin/check-*.sh', '{path}', '...'], ['/usr/local/bin/reload-tls'], ['systemctl', 'reload', 'nginx-*']]);
    expect(allowed('/opt/bin/check-web.sh {cert_path}', patterns)).toBe(true);
    expect(allowed('/opt/bin/check-web.sh /etc/ssl/a.pem --strict -v', patterns)).toBe(true);
    expect(allowed('/opt/bin/check-web.sh', patterns)).toBe(false);
    expect(allowed('/opt/bin/other.sh /etc/ssl/a.pem', patterns)).toBe(false);
    expect(allowed('/opt/bin/check-/../../usr/bin/printenv.sh /etc/ssl/a.pem', patterns)).toBe(false);
    expect(allowed('systemctl reload nginx-edge', patterns)).toBe(true);
    expect(allowed('systemctl reload apache2', patterns)).toBe(false);
  });

  it('refuses a pattern that could not mean what it says', () => {
    expect(() => parseCommandAllowlist('* -t')).toThrow(/named directory/);
    expect(() => parseCommandAllowlist('/* ...')).toThrow(/named directory/);
    expect(() => parseCommandAllowlist('bin/nginx -t')).toThrow(/absolute path/);
    expect(() => parseCommandAllowlist('nginx ... -t')).toThrow(/last word/);
    expect(() => parseCommandAllowlist('nginx {cert}')).toThrow(/only placeholder/);
    expect(() => parseCommandAllowlist('sh -c "id"')).toThrow(/shell characters/);
  });
});

describe('allowed roots', () => {
  it('accepts a root and what is below it, nothing beside it', () => {
    const roots = parseAllowedRoots(DEFAULT_ALLOWED_ROOTS);
    expect(pathUnderRoots('/etc/nginx/ssl/site.pem', roots)).toBe(true);
    expect(pathUnderRoots('/etc/ssl', roots)).toBe(true);
    for (const path of ['/etc/cron.d/x', '/root/.ssh/authorized_keys', '/etc/passwd', '/etc/nginxx/a.pem', '/etc/ssl/../shadow']) {
      expect(pathUnderRoots(path, roots), path).toBe(false);
    }
    expect(parseAllowedRoots('/srv/tls/, /opt/certs')).toEqual(['/srv/tls', '/opt/certs']);
    expect(() => parseAllowedRoots('srv/tls')).toThrow(/absolute/);
  });
});

describe('the environment of config commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'command-env-'));
  const before = deployPolicy();
  afterAll(() => {
    useDeployPolicy(before);
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds PATH and LANG only, from "/", whatever secrets the deploying process holds', async () => {
    expect(commandProcessOptions(false)).toEqual({ env: { PATH: expect.stringContaining('/usr/sbin'), LANG: 'C.UTF-8' }, cwd: '/' });
    const script = join(dir, 'env.sh');
    writeFileSync(script, `#!/bin/sh\nenv > ${join(dir, 'seen-env')}\npwd > ${join(dir, 'seen-cwd')}\n`, { mode: 0o755 });
    useDeployPolicy(deployPolicyOf({ commandAllowlist: parseCommandAllowlist(script), allowedRoots: [dir] }));
    process.env.CERTCTL_TEST_SECRET_CANARY = 'canary-value-that-must-not-leak';
    try {
      await runCommand(script);
    } finally {
      delete process.env.CERTCTL_TEST_SECRET_CANARY;
    }
    const seen = readFileSync(join(dir, 'seen-env'), 'utf8');
    expect(seen).not.toContain('canary-value-that-must-not-leak');
    // sh adds PWD, SHLVL and _ itself; nothing else came from this process.
    const names = seen.trim().split('\n').map((line) => line.split('=')[0]).filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n!));
    expect(names.sort()).toEqual(['LANG', 'PATH']);
    expect(readFileSync(join(dir, 'seen-cwd'), 'utf8').trim()).toBe('/');
  });

  it('runs as the configured command user only when the deploying process is root', () => {
    const policy = { ...deployPolicy(), commandUser: { uid: 65534, gid: 65534 } };
    expect(commandProcessOptions(true, policy)).toMatchObject({ uid: 65534, gid: 65534 });
    expect(commandProcessOptions(false, policy)).not.toHaveProperty('uid');
    expect(() => deployPolicyOf({ commandAllowlist: defaults, allowedRoots: ['/etc/ssl'], commandUser: 'no-such-user-here' })).toThrow(/CERTCTL_DEPLOY_COMMAND_USER: user "no-such-user-here" does not exist/);
    expect(() => deployPolicyOf({ commandAllowlist: defaults, allowedRoots: ['/etc/ssl'], commandUser: 'root' })).toThrow(/unprivileged/);
  });

  it('a command really runs as the command user (nobody here) when this process is root, as this process otherwise', async () => {
    const shared = mkdtempSync(join(tmpdir(), 'command-user-'));
    chmodSync(shared, 0o777); // the command user writes its answer here
    try {
      const script = join(shared, 'whoami.sh');
      writeFileSync(script, `#!/bin/sh\nid -u > ${join(shared, 'uid')}\n`, { mode: 0o755 });
      useDeployPolicy(deployPolicyOf({ commandAllowlist: parseCommandAllowlist(script), allowedRoots: [shared], commandUser: 'nobody:65534' }));
      await runCommand(script);
      const isRoot = process.getuid!() === 0;
      expect(readFileSync(join(shared, 'uid'), 'utf8').trim()).toBe(isRoot ? '65534' : String(process.getuid!()));
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('refuses at run time a command the allow-list does not hold (whatever checked the config before)', async () => {
    useDeployPolicy(deployPolicyOf({ commandAllowlist: defaults, allowedRoots: [dir] }));
    await expect(runCommand('/usr/bin/printenv CERTCTL_API_KEY')).rejects.toThrow(/refused command: .* is not allowed by CERTCTL_DEPLOY_COMMAND_ALLOWLIST/);
  });
});
