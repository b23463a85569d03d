import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { findBinary, freePort, missingPeer, Scratch, TlsPeer, waitForPort } from './peers';

/** The IMAP login process Debian ships in dovecot-imapd (dovecot-core alone has no protocol to serve). */
const IMAP_LOGIN = '/usr/lib/dovecot/imap-login';

/** Why a Dovecot peer cannot run here, or undefined. */
export function dovecotMissing(): string | undefined {
  return missingPeer('dovecot', 'doveadm', 'doveconf') ?? (existsSync(IMAP_LOGIN) ? undefined : `${IMAP_LOGIN} not installed (apt-get install -y dovecot-imapd)`);
}

/**
 * Dovecot with its own config, base and state directories in a scratch directory, serving IMAPS (implicit TLS)
 * on a loopback port with the certificate and key files a Dovecot target deploys. Reload = `doveadm reload`.
 */
export class DovecotPeer implements TlsPeer {
  readonly scratch = new Scratch();
  readonly targetType = 'Dovecot';
  private readonly dovecot = findBinary('dovecot')!;
  private readonly doveadm = findBinary('doveadm')!;
  private readonly doveconf = findBinary('doveconf')!;
  private readonly config = this.scratch.path('dovecot.conf');

  private constructor(readonly port: number) {
    const s = this.scratch;
    chmodSync(s.dir, 0o755); // the unprivileged login processes must reach the base directory
    for (const d of ['tls', 'run', 'state', 'home']) mkdirSync(s.path(d), { recursive: true });
    writeFileSync(this.config, [
      `base_dir = ${s.path('run')}`, `state_dir = ${s.path('state')}`, `log_path = ${s.path('dovecot.log')}`,
      'protocols = imap', 'listen = 127.0.0.1', 'ssl = required',
      `ssl_cert = <${s.path('tls', 'cert.pem')}`, `ssl_key = <${s.path('tls', 'key.pem')}`,
      'default_internal_user = dovecot', 'default_login_user = dovenull',
      'passdb {', '  driver = static', '  args = nopassword', '}',
      'userdb {', '  driver = static', `  args = uid=nobody gid=nogroup home=${s.path('home')}`, '}',
      'service imap-login {', '  chroot =', '  inet_listener imap {', '    port = 0', '  }',
      '  inet_listener imaps {', '    address = 127.0.0.1', `    port = ${port}`, '  }', '}',
      'service anvil {', '  chroot =', '}', '',
    ].join('\n'));
  }

  static async start(initial: { certPem: string; chainPem: string; keyPem: string }): Promise<DovecotPeer> {
    const peer = new DovecotPeer(await freePort());
    writeFileSync(peer.scratch.path('tls', 'cert.pem'), initial.certPem + initial.chainPem);
    writeFileSync(peer.scratch.path('tls', 'key.pem'), initial.keyPem, { mode: 0o600 });
    // No pipes: the daemon would inherit them and execFileSync would wait for them to close.
    execFileSync(peer.dovecot, ['-c', peer.config], { stdio: 'ignore' });
    await waitForPort(peer.port);
    return peer;
  }

  targetConfig(): Record<string, unknown> {
    return {
      mode: 'dovecot', cert_path: this.scratch.path('tls', 'cert.pem'), key_path: this.scratch.path('tls', 'key.pem'),
      validate_command: `${this.doveconf} -c ${this.config} -n`,
      reload_command: this.scratch.reloadWrapper('reload.sh', [this.doveadm, '-c', this.config, 'reload']),
    };
  }

  stop(): void {
    try {
      execFileSync(this.doveadm, ['-c', this.config, 'stop'], { stdio: 'pipe' });
    } catch {
      // not running
    }
    this.scratch.remove();
  }
}
