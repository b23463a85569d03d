import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { join } from 'node:path';
import { onPath } from './pebble';

/**
 * Real ACME clients driven from tests: certbot (with its RFC 2136 DNS plugin), lego and Caddy, all Debian packages.
 * Each run writes only under `dir`, trusts only the CA bundle it is given, and answers challenges on loopback ports,
 * so the tests need neither port 80/443/53 nor the internet.
 */

export type AcmeClientName = 'certbot' | 'certbot-dns-rfc2136' | 'lego' | 'caddy';

const CERTBOT_RFC2136_PLUGIN = '/usr/lib/python3/dist-packages/certbot_dns_rfc2136';

/** Why some of these clients cannot run here, or undefined when all can. Under CI=true the caller must fail instead of skipping. */
export function acmeClientsMissing(clients: AcmeClientName[]): string | undefined {
  const missing = clients.filter((client) => {
    if (client === 'certbot-dns-rfc2136') return !onPath('certbot') || !existsSync(CERTBOT_RFC2136_PLUGIN);
    return !onPath(client);
  });
  if (!missing.length) return undefined;
  const packages = { certbot: 'certbot', 'certbot-dns-rfc2136': 'python3-certbot-dns-rfc2136', lego: 'lego', caddy: 'caddy' };
  return `${missing.join(', ')} missing (Debian: apt-get install -y ${missing.map((m) => packages[m]).join(' ')})`;
}

/** A TSIG-keyed RFC 2136 server the clients write their dns-01 TXT records to (BIND9 in the tests). */
export interface Rfc2136Server {
  host: string;
  port: number;
  keyName: string;
  /** base64 TSIG secret */
  secret: string;
  /** e.g. hmac-sha256 */
  algorithm: string;
}

export interface ExternalAccountBinding {
  kid: string;
  /** base64url HMAC key, as the CA shows it once */
  hmacKey: string;
}

export interface AcmeClientResult {
  code: number;
  /** stdout and stderr, for the failure message */
  output: string;
}

function run(command: string, args: string[], env: Record<string, string>, timeoutMs = 180_000): Promise<AcmeClientResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? '/tmp', ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
        resolve({ code, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// certbot

export interface CertbotOptions {
  /** the ACME directory URL */
  server: string;
  /** PEM file the client trusts for the server's HTTPS (REQUESTS_CA_BUNDLE); omit for plain-HTTP loopback servers */
  caBundlePath?: string;
  /** certbot's config, work and logs directories live here */
  dir: string;
  email?: string;
  eab?: ExternalAccountBinding;
}

export interface CertbotIssueOptions extends CertbotOptions {
  domains: string[];
  /** certificate name (certbot's lineage); defaults to the first domain */
  certName?: string;
  challenge: 'http-01' | 'dns-01';
  /** loopback port certbot's standalone server answers http-01 on */
  http01Port?: number;
  rfc2136?: Rfc2136Server;
  keyType?: 'ecdsa' | 'rsa';
  /** renew an existing lineage now instead of only when due */
  forceRenewal?: boolean;
}

function certbotCommon(options: CertbotOptions): { args: string[]; env: Record<string, string> } {
  const args = [
    '--non-interactive', '--agree-tos',
    '--server', options.server,
    '--config-dir', join(options.dir, 'config'), '--work-dir', join(options.dir, 'work'), '--logs-dir', join(options.dir, 'logs'),
  ];
  args.push(...(options.email ? ['--email', options.email] : ['--register-unsafely-without-email']));
  if (options.eab) args.push('--eab-kid', options.eab.kid, '--eab-hmac-key', options.eab.hmacKey);
  const env: Record<string, string> = { HOME: options.dir };
  if (options.caBundlePath) env.REQUESTS_CA_BUNDLE = options.caBundlePath;
  return { args, env };
}

export interface CertbotLineage {
  certPath: string;
  chainPath: string;
  fullchainPath: string;
  keyPath: string;
}

export function certbotLineage(dir: string, certName: string): CertbotLineage {
  const live = join(dir, 'config', 'live', certName);
  return {
    certPath: join(live, 'cert.pem'),
    chainPath: join(live, 'chain.pem'),
    fullchainPath: join(live, 'fullchain.pem'),
    keyPath: join(live, 'privkey.pem'),
  };
}

/** `certbot certonly` with the standalone http-01 server or the rfc2136 dns-01 plugin. */
export async function certbotCertonly(options: CertbotIssueOptions): Promise<AcmeClientResult & CertbotLineage> {
  mkdirSync(options.dir, { recursive: true });
  const certName = options.certName ?? options.domains[0].replace(/^\*\./, '');
  const { args, env } = certbotCommon(options);
  args.unshift('certonly');
  args.push('--cert-name', certName, '--key-type', options.keyType ?? 'ecdsa');
  for (const domain of options.domains) args.push('-d', domain);
  if (options.forceRenewal) args.push('--force-renewal');
  if (options.challenge === 'http-01') {
    if (!options.http01Port) throw new Error('certbot http-01 needs http01Port');
    args.push('--standalone', '--preferred-challenges', 'http', '--http-01-port', String(options.http01Port), '--http-01-address', '127.0.0.1');
  } else {
    if (!options.rfc2136) throw new Error('certbot dns-01 needs an rfc2136 server');
    const credentials = join(options.dir, 'rfc2136.ini');
    writeFileSync(
      credentials,
      [
        `dns_rfc2136_server = ${options.rfc2136.host}`,
        `dns_rfc2136_port = ${options.rfc2136.port}`,
        `dns_rfc2136_name = ${options.rfc2136.keyName}`,
        `dns_rfc2136_secret = ${options.rfc2136.secret}`,
        `dns_rfc2136_algorithm = ${options.rfc2136.algorithm.toUpperCase()}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    // The plugin waits this long after its update before asking for validation; our BIND9 answers at once.
    args.push('--dns-rfc2136', '--dns-rfc2136-credentials', credentials, '--dns-rfc2136-propagation-seconds', '1', '--preferred-challenges', 'dns');
  }
  const result = await run('certbot', args, env);
  return { ...result, ...certbotLineage(options.dir, certName) };
}

/** `certbot revoke` of a lineage's certificate, authenticated by the account that got it. */
export function certbotRevoke(options: CertbotOptions & { certPath: string; reason?: 'unspecified' | 'keycompromise' | 'superseded' | 'cessationofoperation' }): Promise<AcmeClientResult> {
  const { args, env } = certbotCommon(options);
  args.unshift('revoke');
  args.push('--cert-path', options.certPath, '--no-delete-after-revoke', '--reason', options.reason ?? 'unspecified');
  return run('certbot', args, env);
}

// ---------------------------------------------------------------------------------------------------------------------
// lego

export interface LegoOptions {
  server: string;
  /** PEM file lego trusts for the server's HTTPS (LEGO_CA_CERTIFICATES) */
  caBundlePath?: string;
  /** lego's --path: accounts and certificates */
  dir: string;
  domains: string[];
  email?: string;
  eab?: ExternalAccountBinding;
  challenge: 'http-01' | 'tls-alpn-01' | 'dns-01';
  http01Port?: number;
  tlsAlpn01Port?: number;
  rfc2136?: Rfc2136Server;
  /** host:port lego asks to check its TXT records have propagated */
  dnsResolver?: string;
  keyType?: 'ec256' | 'ec384' | 'rsa2048';
}

function legoArgs(options: LegoOptions): { args: string[]; env: Record<string, string> } {
  const args = [
    '--server', options.server, '--accept-tos', '--email', options.email ?? 'acme-test@example.test', '--path', options.dir,
    '--key-type', options.keyType ?? 'ec256',
  ];
  for (const domain of options.domains) args.push('--domains', domain);
  if (options.eab) args.push('--eab', '--kid', options.eab.kid, '--hmac', options.eab.hmacKey);
  const env: Record<string, string> = { HOME: options.dir };
  if (options.caBundlePath) env.LEGO_CA_CERTIFICATES = options.caBundlePath;
  if (options.challenge === 'http-01') {
    if (!options.http01Port) throw new Error('lego http-01 needs http01Port');
    args.push('--http', '--http.port', `127.0.0.1:${options.http01Port}`);
  } else if (options.challenge === 'tls-alpn-01') {
    if (!options.tlsAlpn01Port) throw new Error('lego tls-alpn-01 needs tlsAlpn01Port');
    args.push('--tls', '--tls.port', `127.0.0.1:${options.tlsAlpn01Port}`);
  } else {
    if (!options.rfc2136) throw new Error('lego dns-01 needs an rfc2136 server');
    args.push('--dns', 'rfc2136', '--dns.disable-cp');
    if (options.dnsResolver) args.push('--dns.resolvers', options.dnsResolver);
    Object.assign(env, {
      RFC2136_NAMESERVER: `${options.rfc2136.host}:${options.rfc2136.port}`,
      RFC2136_TSIG_KEY: options.rfc2136.keyName,
      RFC2136_TSIG_SECRET: options.rfc2136.secret,
      RFC2136_TSIG_ALGORITHM: `${options.rfc2136.algorithm.toLowerCase().replace(/\.?$/, '.')}`,
      RFC2136_PROPAGATION_TIMEOUT: '30',
      RFC2136_POLLING_INTERVAL: '1',
      // lego waits this long between its updates (default 60 s); BIND9 takes them back to back.
      RFC2136_SEQUENCE_INTERVAL: '1',
    });
  }
  return { args, env };
}

export interface LegoCertificate {
  certPath: string;
  keyPath: string;
  issuerPath: string;
}

export function legoCertificate(dir: string, domain: string): LegoCertificate {
  const base = join(dir, 'certificates', domain.replace(/^\*/, '_'));
  return { certPath: `${base}.crt`, keyPath: `${base}.key`, issuerPath: `${base}.issuer.crt` };
}

/** `lego run`: account (with EAB when given), order, challenge, certificate. */
export async function legoRun(options: LegoOptions): Promise<AcmeClientResult & LegoCertificate> {
  mkdirSync(options.dir, { recursive: true });
  const { args, env } = legoArgs(options);
  const result = await run('lego', [...args, 'run'], env);
  return { ...result, ...legoCertificate(options.dir, options.domains[0]) };
}

/** `lego renew`, renewing now when `days` exceeds the remaining lifetime. */
export async function legoRenew(options: LegoOptions & { days: number }): Promise<AcmeClientResult & LegoCertificate> {
  const { args, env } = legoArgs(options);
  const result = await run('lego', [...args, 'renew', '--days', String(options.days), '--no-random-sleep'], env);
  return { ...result, ...legoCertificate(options.dir, options.domains[0]) };
}

export function legoRevoke(options: LegoOptions): Promise<AcmeClientResult> {
  const { args, env } = legoArgs(options);
  return run('lego', [...args, 'revoke'], env);
}

// ---------------------------------------------------------------------------------------------------------------------
// Caddy

export interface CaddyAcmeSite {
  /** Caddy's HTTPS port, where it serves `domain` with the certificate it got */
  httpsPort: number;
  /** the certificate Caddy presents for `domain` (PEM of the leaf), read over TLS */
  servedCertificatePem(domain: string): Promise<string>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Caddy serving `domains` over HTTPS with certificates it gets itself from `acmeCa` (http-01 on `httpPort` and
 * tls-alpn-01 on `httpsPort`), trusting `acmeCaRootPath` for the CA's own HTTPS.
 */
export async function startCaddyWithAcme(options: {
  dir: string;
  acmeCa: string;
  acmeCaRootPath?: string;
  domains: string[];
  httpPort: number;
  httpsPort: number;
  email?: string;
  eab?: ExternalAccountBinding;
  /** how long to wait for Caddy to serve a certificate from the CA */
  timeoutMs?: number;
}): Promise<CaddyAcmeSite> {
  mkdirSync(options.dir, { recursive: true });
  const global = [
    'admin off',
    `http_port ${options.httpPort}`,
    `https_port ${options.httpsPort}`,
    `storage file_system ${join(options.dir, 'storage')}`,
    `acme_ca ${options.acmeCa}`,
    options.acmeCaRootPath ? `acme_ca_root ${options.acmeCaRootPath}` : '',
    options.email ? `email ${options.email}` : '',
    options.eab ? `acme_eab {\n    key_id ${options.eab.kid}\n    mac_key ${options.eab.hmacKey}\n  }` : '',
    // Loopback only: no OCSP stapling fetches to the internet, no redirects server on other interfaces.
    'ocsp_stapling off',
    'default_bind 127.0.0.1',
  ].filter(Boolean);
  const caddyfile = `{\n  ${global.join('\n  ')}\n}\n\n${options.domains.join(', ')} {\n  respond "served by caddy"\n}\n`;
  const caddyfilePath = join(options.dir, 'Caddyfile');
  writeFileSync(caddyfilePath, caddyfile);
  const child: ChildProcess = spawn('caddy', ['run', '--config', caddyfilePath, '--adapter', 'caddyfile'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: options.dir, XDG_DATA_HOME: join(options.dir, 'data'), XDG_CONFIG_HOME: join(options.dir, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-50_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };

  const servedCertificatePem = (domain: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: options.httpsPort, servername: domain, rejectUnauthorized: false, timeout: 5000 }, () => {
        const cert = socket.getPeerX509Certificate();
        socket.end();
        if (!cert) reject(new Error('no certificate served'));
        else resolve(cert.toString());
      });
      socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
      socket.on('error', reject);
    });

  return { httpsPort: options.httpsPort, servedCertificatePem, output: () => output, stop };
}

/** Reads a PEM file a client wrote; a clear error naming the client's output when it is not there. */
export function readIssued(path: string, result: AcmeClientResult): string {
  if (!existsSync(path)) throw new Error(`no certificate at ${path} (exit ${result.code}):\n${result.output.slice(-4000)}`);
  return readFileSync(path, 'utf8');
}
