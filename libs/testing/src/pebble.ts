import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './local-services';

/**
 * Pebble (Let's Encrypt's test CA, Debian package `pebble`) with real validation, and pebble-challtestsrv as
 * its DNS server: every name resolves to 127.0.0.1 unless told otherwise, and dns-01 TXT records are set
 * through challtestsrv's management API. Pebble's HTTPS uses a pair made here with openssl.
 */
export interface Pebble {
  directoryUrl: string;
  /** Pebble's HTTPS certificate (PEM), to trust in the ACME client (ca_bundle_pem). */
  tlsCertPem: string;
  /** The port Pebble's validator sends http-01 requests to. */
  httpPort: number;
  /** challtestsrv's management API (POST /set-txt, /clear-txt, /add-a). */
  challtestsrvUrl: string;
  /** The external account binding Pebble requires, when started with `eab: true`. */
  eab: { kid: string; hmacKey: string } | undefined;
  /** Pebble's management API (HTTPS, Pebble's own pair): /roots/0, /cert-status-by-serial/{hex}. */
  managementUrl: string;
  /** Pebble's root, made fresh at each start (management API /roots/0). */
  rootPem(): Promise<string>;
  /** Makes `host` resolve to `ip` (an address where nothing answers makes http-01 fail). */
  addA(host: string, ip: string): Promise<void>;
  /** The pebble process id (a bench reads its CPU time). */
  pid: number | undefined;
  stop(): Promise<void>;
}

export function onPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why Pebble tests cannot run here, or undefined when they can. Under CI=true the caller must fail instead of skipping. */
export function pebbleMissing(): string | undefined {
  const missing = ['pebble', 'pebble-challtestsrv', 'openssl'].filter((c) => !onPath(c));
  return missing.length ? `${missing.join(', ')} not on PATH (Debian: apt-get install -y pebble openssl)` : undefined;
}

/** GET over HTTPS trusting only `ca`. */
export function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

function startProcess(command: string, args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** `dnsServer` (`host:port`, e.g. a BIND9 fixture's address) replaces challtestsrv as the DNS server Pebble validates through. */
/** `env` adds to Pebble's environment, e.g. PEBBLE_VA_ALWAYS_VALID=1 for a benchmark peer. */
export async function startPebble(options: { httpPort: number; eab?: boolean; dnsServer?: string; env?: Record<string, string> }): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-pebble-'));
  const [acmePort, managementPort, tlsPort, dnsPort, challPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  const tlsCertPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const eab = options.eab ? { kid: `kid-${randomBytes(4).toString('hex')}`, hmacKey: randomBytes(32).toString('base64url') } : undefined;
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: join(dir, 'cert.pem'),
      privateKey: join(dir, 'key.pem'),
      httpPort: options.httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: Boolean(eab),
      ...(eab ? { externalAccountMACKeys: { [eab.kid]: eab.hmacKey } } : {}),
    },
  }));

  const chall = startProcess('pebble-challtestsrv', [
    '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${challPort}`,
    '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
  ], {});
  // Validation is real: no PEBBLE_VA_ALWAYS_VALID. NOSLEEP only drops Pebble's random 0-15 s pause before validating.
  const pebble = startProcess('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', options.dnsServer ?? `127.0.0.1:${dnsPort}`], { PEBBLE_VA_NOSLEEP: '1', ...options.env });
  const challtestsrvUrl = `http://127.0.0.1:${challPort}`;
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;

  const stop = async () => {
    await Promise.all([stopProcess(pebble.child), stopProcess(chall.child)]);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ready = await Promise.all([
      httpsGet(directoryUrl, tlsCertPem).then((r) => r.status === 200, () => false),
      fetch(`${challtestsrvUrl}/`, { method: 'GET' }).then(() => true, () => false),
    ]);
    if (ready.every(Boolean)) break;
    if (Date.now() > deadline || pebble.child.exitCode !== null || chall.child.exitCode !== null) {
      await stop();
      throw new Error(`Pebble did not start:\n${pebble.output()}\n--- challtestsrv ---\n${chall.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${challtestsrvUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`challtestsrv ${path}: HTTP ${res.status}`);
  };
  return {
    directoryUrl,
    tlsCertPem,
    httpPort: options.httpPort,
    challtestsrvUrl,
    eab,
    managementUrl: `https://127.0.0.1:${managementPort}`,
    async rootPem() {
      const res = await httpsGet(`https://127.0.0.1:${managementPort}/roots/0`, tlsCertPem);
      if (res.status !== 200) throw new Error(`Pebble /roots/0: HTTP ${res.status}`);
      return res.body;
    },
    addA: (host, ip) => post('/add-a', { host, addresses: [ip] }),
    pid: pebble.child.pid,
    stop,
  };
}
