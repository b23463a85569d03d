import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@certctl/testing';

export { freePort };

/** The first path of `binary` among the usual sbin/bin directories, else undefined. */
export function findBinary(binary: string): string | undefined {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'].map((d) => join(d, binary)).find((p) => existsSync(p));
}

/** The Debian package of each peer binary whose package is not named after it. */
const DEBIAN_PACKAGE_OF: Record<string, string> = {
  sshd: 'openssh-server', 'ssh-keygen': 'openssh-client', dovecot: 'dovecot-core', doveadm: 'dovecot-core', doveconf: 'dovecot-core',
  apachectl: 'apache2', apache2ctl: 'apache2', 'pebble-challtestsrv': 'pebble', promtool: 'prometheus', kubectl: 'kubernetes-client',
};

/** The Debian packages that install these binaries, each once, in order. */
export function debianPackagesFor(binaries: string[]): string[] {
  return [...new Set(binaries.map((b) => DEBIAN_PACKAGE_OF[b] ?? b))];
}

/** Why a peer cannot run here (for a skip message), or undefined. Under CI=true callers must fail instead. */
export function missingPeer(...binaries: string[]): string | undefined {
  const missing = binaries.filter((b) => !findBinary(b));
  return missing.length ? `${missing.join(', ')} not installed (apt-get install -y ${debianPackagesFor(missing).join(' ')})` : undefined;
}

/**
 * A scratch directory with a reload wrapper script for a peer. The wrapper counts reloads in `reloads.log`
 * and fails once (status 7, saying "simulated reload failure" on stderr) when `fail-next-reload` exists, so a test
 * can make exactly one reload fail.
 */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'deploy-peer-'));

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Writes an executable `name` that runs `argv` unless a failure was requested. */
  reloadWrapper(name: string, argv: string[]): string {
    const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const script = this.path(name);
    writeFileSync(script, `#!/bin/sh
echo reload >> '${this.path('reloads.log')}'
if [ -e '${this.path('fail-next-reload')}' ]; then rm -f '${this.path('fail-next-reload')}'; echo 'simulated reload failure' >&2; exit 7; fi
exec ${quoted}
`);
    chmodSync(script, 0o755);
    return script;
  }

  /** Like reloadWrapper, for reloads that need a shell (HAProxy's `-sf $(cat pidfile)`); the script is the test's, not a config's. */
  reloadScript(name: string, shellLine: string): string {
    const script = this.path(name);
    writeFileSync(script, `#!/bin/sh
echo reload >> '${this.path('reloads.log')}'
if [ -e '${this.path('fail-next-reload')}' ]; then rm -f '${this.path('fail-next-reload')}'; echo 'simulated reload failure' >&2; exit 7; fi
${shellLine}
`);
    chmodSync(script, 0o755);
    return script;
  }

  failNextReload(): void {
    writeFileSync(this.path('fail-next-reload'), '');
  }

  reloads(): number {
    return existsSync(this.path('reloads.log')) ? readFileSync(this.path('reloads.log'), 'utf8').split('\n').filter(Boolean).length : 0;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** nginx as root in a scratch prefix, serving TLS on a loopback port from `tls/cert.pem` and `tls/key.pem`. */
export class NginxPeer implements TlsPeer {
  readonly targetType = 'NGINX';
  readonly scratch = new Scratch();
  readonly certPath = this.scratch.path('tls', 'cert.pem');
  readonly keyPath = this.scratch.path('tls', 'key.pem');
  private readonly base: string[];

  private constructor(readonly port: number) {
    const s = this.scratch;
    for (const d of ['conf', 'logs', 'tmp', 'tls']) mkdirSync(s.path(d), { recursive: true });
    writeFileSync(s.path('conf', 'nginx.conf'), `
pid ${s.path('nginx.pid')};
error_log ${s.path('logs', 'error.log')};
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${s.path('tmp', 'body')};
  proxy_temp_path ${s.path('tmp', 'proxy')};
  fastcgi_temp_path ${s.path('tmp', 'fastcgi')};
  uwsgi_temp_path ${s.path('tmp', 'uwsgi')};
  scgi_temp_path ${s.path('tmp', 'scgi')};
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${this.certPath};
    ssl_certificate_key ${this.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    return 200 "ok";
  }
}
`);
    this.base = [findBinary('nginx')!, '-p', s.dir, '-e', s.path('logs', 'error.log'), '-c', s.path('conf', 'nginx.conf')];
  }

  /** Starts nginx with an initial certificate (nginx needs one to start). */
  static async start(initial: { certPem: string; keyPem: string }): Promise<NginxPeer> {
    const peer = new NginxPeer(await freePort());
    writeFileSync(peer.certPath, initial.certPem);
    writeFileSync(peer.keyPath, initial.keyPem, { mode: 0o600 });
    execFileSync(peer.base[0]!, peer.base.slice(1), { stdio: 'pipe' });
    return peer;
  }

  targetConfig(): Record<string, unknown> {
    return { cert_path: this.certPath, key_path: this.keyPath, validate_command: this.validateCommand, reload_command: this.reloadCommand };
  }

  get validateCommand(): string {
    return [...this.base, '-t', '-q'].join(' ');
  }

  /** Through the wrapper, so tests can count reloads and make one fail. */
  get reloadCommand(): string {
    return this.scratch.reloadWrapper('reload.sh', [...this.base, '-s', 'reload']);
  }

  stop(): void {
    try {
      execFileSync(this.base[0]!, [...this.base.slice(1), '-s', 'stop'], { stdio: 'pipe' });
    } catch {
      // already stopped
    }
    this.scratch.remove();
  }
}

/** What the deploy tests need from a TLS server under test. */
export interface TlsPeer {
  readonly scratch: Scratch;
  readonly port: number;
  readonly targetType: string;
  /** Set when the handshake needs an SMTP STARTTLS upgrade first. */
  readonly starttls?: 'smtp';
  /** The target config that deploys to this peer. */
  targetConfig(): Record<string, unknown>;
  stop(): void;
}

function killPidFile(path: string): void {
  try {
    process.kill(Number(readFileSync(path, 'utf8').trim()), 'SIGTERM');
  } catch {
    // not running
  }
}

/** Apache httpd (Debian's apache2) with mod_ssl in a scratch ServerRoot-less config; reload = graceful. */
export class ApachePeer implements TlsPeer {
  readonly scratch = new Scratch();
  readonly targetType = 'Apache';
  private readonly conf = this.scratch.path('conf', 'httpd.conf');
  private readonly bin = findBinary('apache2') ?? findBinary('httpd')!;

  private constructor(readonly port: number) {
    const s = this.scratch;
    for (const d of ['conf', 'logs', 'run', 'tls']) mkdirSync(s.path(d), { recursive: true });
    writeFileSync(this.conf, `
ServerRoot /usr/lib/apache2
ServerName localhost
DefaultRuntimeDir ${s.path('run')}
PidFile ${s.path('run', 'httpd.pid')}
Mutex file:${s.path('run')} default
ErrorLog ${s.path('logs', 'error.log')}
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule socache_shmcb_module modules/mod_socache_shmcb.so
LoadModule ssl_module modules/mod_ssl.so
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
Listen 127.0.0.1:${port}
SSLSessionCache none
<VirtualHost 127.0.0.1:${port}>
  SSLEngine on
  SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1
  SSLCertificateFile ${s.path('tls', 'cert.pem')}
  SSLCertificateKeyFile ${s.path('tls', 'key.pem')}
  SSLCertificateChainFile ${s.path('tls', 'chain.pem')}
</VirtualHost>
`);
  }

  static async start(initial: { certPem: string; chainPem: string; keyPem: string }): Promise<ApachePeer> {
    const peer = new ApachePeer(await freePort());
    writeFileSync(peer.scratch.path('tls', 'cert.pem'), initial.certPem);
    writeFileSync(peer.scratch.path('tls', 'chain.pem'), initial.chainPem);
    writeFileSync(peer.scratch.path('tls', 'key.pem'), initial.keyPem, { mode: 0o600 });
    execFileSync(peer.bin, ['-f', peer.conf, '-k', 'start'], { stdio: 'pipe' });
    return peer;
  }

  targetConfig(): Record<string, unknown> {
    return {
      cert_path: this.scratch.path('tls', 'cert.pem'), chain_path: this.scratch.path('tls', 'chain.pem'), key_path: this.scratch.path('tls', 'key.pem'),
      validate_command: `${this.bin} -f ${this.conf} -t`,
      reload_command: this.scratch.reloadWrapper('reload.sh', [this.bin, '-f', this.conf, '-k', 'graceful']),
    };
  }

  stop(): void {
    try {
      execFileSync(this.bin, ['-f', this.conf, '-k', 'stop'], { stdio: 'pipe' });
    } catch {
      killPidFile(this.scratch.path('run', 'httpd.pid'));
    }
    this.scratch.remove();
  }
}

/** HAProxy terminating TLS from one combined PEM; reload = a new process taking over with -sf. */
export class HaproxyPeer implements TlsPeer {
  readonly scratch = new Scratch();
  readonly targetType = 'HAProxy';
  private readonly cfg = this.scratch.path('haproxy.cfg');
  private readonly pid = this.scratch.path('haproxy.pid');
  private readonly pem = this.scratch.path('tls', 'site.pem');
  private readonly bin = findBinary('haproxy')!;

  private constructor(readonly port: number) {
    mkdirSync(this.scratch.path('tls'), { recursive: true });
    writeFileSync(this.cfg, `
global
  maxconn 64
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend tls
  bind 127.0.0.1:${port} ssl crt ${this.pem}
  http-request return status 200
`);
  }

  static async start(initial: { certPem: string; chainPem: string; keyPem: string }): Promise<HaproxyPeer> {
    const peer = new HaproxyPeer(await freePort());
    writeFileSync(peer.pem, initial.certPem + initial.chainPem + initial.keyPem, { mode: 0o600 });
    execFileSync(peer.bin, ['-D', '-f', peer.cfg, '-p', peer.pid], { stdio: 'pipe' });
    return peer;
  }

  targetConfig(): Record<string, unknown> {
    return {
      pem_path: this.pem,
      validate_command: `${this.bin} -c -q -f ${this.cfg}`,
      reload_command: this.scratch.reloadScript('reload.sh', `exec '${this.bin}' -D -f '${this.cfg}' -p '${this.pid}' -sf $(cat '${this.pid}')`),
    };
  }

  stop(): void {
    killPidFile(this.pid);
    this.scratch.remove();
  }
}

export async function waitForPort(port: number, timeoutMs = 5_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A throwaway OpenSSH server on a loopback port: its own host key, root login with one client key, internal SFTP. */
export class SshdPeer {
  readonly scratch = new Scratch();
  readonly clientKeyPath = this.scratch.path('client_ed25519');
  hostKeyFingerprint = '';
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<SshdPeer> {
    const peer = new SshdPeer(await freePort());
    const s = peer.scratch;
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    for (const name of ['host_ed25519', 'client_ed25519']) {
      execFileSync(findBinary('ssh-keygen')!, ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', s.path(name)], { stdio: 'pipe' });
    }
    writeFileSync(s.path('authorized_keys'), readFileSync(s.path('client_ed25519.pub')));
    writeFileSync(s.path('sshd_config'), [
      `Port ${peer.port}`, 'ListenAddress 127.0.0.1', `HostKey ${s.path('host_ed25519')}`, `PidFile ${s.path('sshd.pid')}`,
      `AuthorizedKeysFile ${s.path('authorized_keys')}`, 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
      'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'Subsystem sftp internal-sftp', 'LogLevel ERROR', '',
    ].join('\n'));
    // "256 SHA256:... comment (ED25519)"
    peer.hostKeyFingerprint = execFileSync(findBinary('ssh-keygen')!, ['-lf', s.path('host_ed25519.pub')], { encoding: 'utf8' }).split(' ')[1]!;
    peer.child = spawn(findBinary('sshd')!, ['-D', '-e', '-f', s.path('sshd_config')], { stdio: 'ignore' });
    await waitForPort(peer.port);
    return peer;
  }

  stop(): void {
    this.child?.kill('SIGTERM');
    this.scratch.remove();
  }
}

/** An SSH target: files go over SFTP into a directory an nginx serves; the reload runs over SSH. */
export class SshNginxPeer implements TlsPeer {
  readonly targetType = 'SSH';
  private constructor(private readonly sshd: SshdPeer, private readonly nginx: NginxPeer) {}

  static async start(initial: { certPem: string; keyPem: string }): Promise<SshNginxPeer> {
    const sshd = await SshdPeer.start();
    return new SshNginxPeer(sshd, await NginxPeer.start(initial));
  }

  get scratch(): Scratch {
    return this.nginx.scratch;
  }

  get port(): number {
    return this.nginx.port;
  }

  targetConfig(): Record<string, unknown> {
    return {
      // The key inline: the api stores it encrypted and the orchestrator opens it, which this exercises.
      host: '127.0.0.1', port: this.sshd.port, user: 'root', auth_method: 'key', private_key: readFileSync(this.sshd.clientKeyPath, 'utf8'),
      host_key_fingerprint: this.sshd.hostKeyFingerprint, cert_path: this.nginx.certPath, key_path: this.nginx.keyPath,
      reload_command: this.nginx.reloadCommand, timeout: '10s',
    };
  }

  stop(): void {
    this.nginx.stop();
    this.sshd.stop();
  }
}

/**
 * Postfix in its own config directory (`postfix -c DIR`), smtpd with STARTTLS on a loopback port; the Debian
 * master.cf minus chroot. Logs go to DIR/maillog.
 */
export class PostfixPeer implements TlsPeer {
  readonly scratch = new Scratch();
  readonly targetType = 'Postfix';
  readonly starttls = 'smtp' as const;
  private readonly bin = findBinary('postfix')!;

  private constructor(readonly port: number) {
    const s = this.scratch;
    chmodSync(s.dir, 0o755); // postfix's unprivileged daemons must reach their data directory
    for (const d of ['tls', 'spool', 'data']) mkdirSync(s.path(d), { recursive: true });
    const postfixUid = resolveUidOf('postfix');
    if (postfixUid !== undefined) chownSync(s.path('data'), postfixUid, -1);
    writeFileSync(s.path('main.cf'), [
      'compatibility_level = 3.6', `queue_directory = ${s.path('spool')}`, `data_directory = ${s.path('data')}`, 'mail_owner = postfix',
      'myhostname = localhost', 'inet_protocols = ipv4', 'mydestination =', `smtpd_tls_cert_file = ${s.path('tls', 'cert.pem')}`,
      `smtpd_tls_key_file = ${s.path('tls', 'key.pem')}`, 'smtpd_tls_security_level = may', `maillog_file = ${s.path('maillog')}`,
      `maillog_file_prefixes = ${s.dir}`, '',
    ].join('\n'));
    const master = readFileSync('/etc/postfix/master.cf', 'utf8').split('\n').map((line) => {
      if (!line || line.startsWith('#') || /^\s/.test(line)) return line;
      const fields = line.split(/\s+/);
      if (fields[0] === 'smtp' && fields[1] === 'inet') fields[0] = `127.0.0.1:${port}`;
      if (fields.length >= 8) fields[4] = 'n'; // no chroot: the scratch spool has no copy of /etc
      return fields.join(' ');
    });
    writeFileSync(s.path('master.cf'), master.join('\n'));
  }

  static async start(initial: { certPem: string; chainPem: string; keyPem: string }): Promise<PostfixPeer> {
    const peer = new PostfixPeer(await freePort());
    writeFileSync(peer.scratch.path('tls', 'cert.pem'), initial.certPem + initial.chainPem);
    writeFileSync(peer.scratch.path('tls', 'key.pem'), initial.keyPem, { mode: 0o600 });
    execFileSync(peer.bin, ['-c', peer.scratch.dir, 'start'], { stdio: 'pipe' });
    await waitForPort(peer.port);
    return peer;
  }

  targetConfig(): Record<string, unknown> {
    return {
      mode: 'postfix', cert_path: this.scratch.path('tls', 'cert.pem'), key_path: this.scratch.path('tls', 'key.pem'),
      validate_command: `${this.bin} -c ${this.scratch.dir} check`,
      reload_command: this.scratch.reloadWrapper('reload.sh', [this.bin, '-c', this.scratch.dir, 'reload']),
    };
  }

  stop(): void {
    try {
      execFileSync(this.bin, ['-c', this.scratch.dir, 'stop'], { stdio: 'pipe' });
    } catch {
      // not running
    }
    this.scratch.remove();
  }
}

function resolveUidOf(user: string): number | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  return line ? Number(line.split(':')[2]) : undefined;
}

/** Caddy serving TLS from files in a directory (the Caddy target's file mode); reload through its admin API. */
export class CaddyPeer implements TlsPeer {
  readonly scratch = new Scratch();
  readonly targetType = 'Caddy';
  private readonly bin = findBinary('caddy')!;
  private child: ChildProcess | undefined;
  private adminPort = 0;

  private constructor(readonly port: number) {}

  static async start(initial: { certPem: string; chainPem: string; keyPem: string }): Promise<CaddyPeer> {
    const peer = new CaddyPeer(await freePort());
    peer.adminPort = await freePort();
    const s = peer.scratch;
    mkdirSync(s.path('tls'), { recursive: true });
    writeFileSync(s.path('tls', 'cert.pem'), initial.certPem + initial.chainPem);
    writeFileSync(s.path('tls', 'key.pem'), initial.keyPem, { mode: 0o600 });
    writeFileSync(s.path('Caddyfile'), `{
\tadmin 127.0.0.1:${peer.adminPort}
\tauto_https off
\tstorage file_system ${s.path('data')}
}
https://127.0.0.1:${peer.port} {
\ttls ${s.path('tls', 'cert.pem')} ${s.path('tls', 'key.pem')}
\trespond "ok"
}
`);
    peer.child = spawn(peer.bin, ['run', '--config', s.path('Caddyfile'), '--adapter', 'caddyfile'], {
      stdio: 'ignore', env: { ...process.env, HOME: s.dir, XDG_CONFIG_HOME: s.path('config'), XDG_DATA_HOME: s.path('data') },
    });
    await waitForPort(peer.port, 10_000);
    return peer;
  }

  targetConfig(): Record<string, unknown> {
    return {
      mode: 'file', cert_dir: this.scratch.path('tls'), cert_file: 'cert.pem', key_file: 'key.pem',
      // --force: the Caddyfile is unchanged, only the files it names are new.
      reload_command: this.scratch.reloadWrapper('reload.sh', [
        this.bin, 'reload', '--config', this.scratch.path('Caddyfile'), '--adapter', 'caddyfile', '--address', `127.0.0.1:${this.adminPort}`, '--force',
      ]),
    };
  }

  stop(): void {
    this.child?.kill('SIGTERM');
    this.scratch.remove();
  }
}

/**
 * Caddy run from a JSON config for the Caddy target's admin-API mode: one TLS site on a loopback port picking its
 * certificate by SNI from `apps.tls.certificates.load_pem` (starting with `initial`, tagged "placeholder"), and the
 * admin API on a free loopback port or, with `adminSocket`, a unix socket. Caddy's JSON log goes to caddy.log, so a
 * test can count the config changes it was asked for and the configs it switched to.
 */
export class CaddyApiPeer implements TlsPeer {
  readonly scratch = new Scratch();
  readonly targetType = 'Caddy';
  readonly adminApi: string;
  private readonly bin = findBinary('caddy')!;
  private readonly log = this.scratch.path('caddy.log');
  private child: ChildProcess | undefined;

  private readonly admin: { port: number } | { socket: string };

  private constructor(readonly port: number, adminPort: number | undefined) {
    this.admin = adminPort ? { port: adminPort } : { socket: this.scratch.path('admin.sock') };
    this.adminApi = 'port' in this.admin ? `http://127.0.0.1:${this.admin.port}` : `unix/${this.admin.socket}`;
  }

  static async start(initial: { certPem: string; chainPem: string; keyPem: string }, opts: { adminSocket?: boolean } = {}): Promise<CaddyApiPeer> {
    const peer = new CaddyApiPeer(await freePort(), opts.adminSocket ? undefined : await freePort());
    const admin = peer.admin;
    const config = {
      admin: { listen: 'port' in admin ? `127.0.0.1:${admin.port}` : `unix/${admin.socket}` },
      storage: { module: 'file_system', root: peer.scratch.path('data') },
      apps: {
        http: {
          servers: {
            site: {
              listen: [`127.0.0.1:${peer.port}`], automatic_https: { disable: true }, tls_connection_policies: [{}],
              routes: [{ handle: [{ handler: 'static_response', body: 'ok' }] }],
            },
          },
        },
        tls: { certificates: { load_pem: [{ certificate: initial.certPem + initial.chainPem, key: initial.keyPem, tags: ['placeholder'] }] } },
      },
    };
    writeFileSync(peer.scratch.path('caddy.json'), JSON.stringify(config), { mode: 0o600 });
    await peer.run(['--config', peer.scratch.path('caddy.json')]);
    return peer;
  }

  /**
   * Caddy as operators usually run it: a Caddyfile site `site` with automatic HTTPS (its own local CA, so nothing
   * leaves the machine), bound to loopback ports, admin API on a free loopback port. No TLS app certificates yet.
   */
  static async startFromCaddyfile(site: string): Promise<CaddyApiPeer> {
    const peer = new CaddyApiPeer(await freePort(), await freePort());
    const admin = peer.admin as { port: number };
    writeFileSync(peer.scratch.path('Caddyfile'), `{
\tadmin 127.0.0.1:${admin.port}
\thttp_port ${await freePort()}
\thttps_port ${peer.port}
\tdefault_bind 127.0.0.1
\tstorage file_system ${peer.scratch.path('data')}
\tlocal_certs
\tskip_install_trust
}
${site} {
\trespond "ok"
}
`);
    await peer.run(['--config', peer.scratch.path('Caddyfile'), '--adapter', 'caddyfile']);
    return peer;
  }

  private async run(args: string[]): Promise<void> {
    const logFd = openSync(this.log, 'a');
    this.child = spawn(this.bin, ['run', ...args], {
      stdio: ['ignore', 'ignore', logFd],
      env: { ...process.env, HOME: this.scratch.dir, XDG_CONFIG_HOME: this.scratch.path('config'), XDG_DATA_HOME: this.scratch.path('data') },
    });
    closeSync(logFd);
    await waitForPort(this.port, 10_000);
  }

  /** Where the socket is, when the admin API listens on one. */
  get adminSocket(): string | undefined {
    return 'socket' in this.admin ? this.admin.socket : undefined;
  }

  targetConfig(): Record<string, unknown> {
    return { mode: 'api', admin_api: this.adminApi, timeout: '10s' };
  }

  private logLines(): Array<Record<string, unknown>> {
    if (!existsSync(this.log)) return [];
    return readFileSync(this.log, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Requests to change the config (POST, PUT, PATCH, DELETE) the admin API received, accepted or not. */
  configChangeRequests(): number {
    return this.logLines().filter((l) => l.logger === 'admin.api' && l.msg === 'received request' && l.method !== 'GET').length;
  }

  /** Configs Caddy switched to after the initial one (each is autosaved once it runs). */
  configLoads(): number {
    return Math.max(0, this.logLines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('autosaved config')).length - 1);
  }

  /** A request to the admin API from the test itself (to read the config or change it behind certctl's back). */
  async adminRequest(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const where = 'socket' in this.admin ? { socketPath: this.admin.socket, setHost: false } : { host: '127.0.0.1', port: this.admin.port };
      const req = request({ ...where, agent: false, method, path, headers: payload ? { 'Content-Type': 'application/json' } : {} }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      if ('socket' in this.admin) req.setHeader('Host', '');
      req.on('error', reject);
      req.end(payload);
    });
  }

  async config(): Promise<any> {
    const res = await this.adminRequest('GET', '/config/');
    if (res.status !== 200) throw new Error(`GET /config/: ${res.status} ${res.body}`);
    return JSON.parse(res.body);
  }

  stop(): void {
    this.child?.kill('SIGTERM');
    this.scratch.remove();
  }
}

/**
 * The fingerprint a server serves once a reload has settled: right after a reload old workers may still answer
 * for a moment, so this polls `served` (up to 5 s) until `expected` comes back, and returns what was served last.
 */
export async function servedAfterReload(served: () => Promise<string>, expected: string): Promise<string> {
  let last = await served();
  for (let i = 0; i < 50 && last !== expected; i++) {
    await new Promise((r) => setTimeout(r, 100));
    last = await served();
  }
  return last;
}
