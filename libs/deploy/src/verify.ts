import { createHash, X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { connect as plainConnect, Socket } from 'node:net';
import { connect } from 'node:tls';
// By path, not '@certctl/config': the agent bundles this file and must not pull in Nest.
import { resolveOutboundAddress } from '../../config/src/outbound-connect';
import { OutboundUrlError } from '../../config/src/outbound-url';

export interface VerifyOptions {
  host: string;
  port: number;
  /** SNI; defaults to host when it is a name. */
  servername?: string;
  expectedFingerprint: string;
  /** Upgrade a plain SMTP connection with STARTTLS first (Postfix on port 25/587). */
  starttls?: 'smtp';
  attempts?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  timeoutMs?: number;
}

export class VerificationMismatch extends Error {
  constructor(message: string, readonly servedFingerprint: string | null) {
    super(message);
    this.name = 'VerificationMismatch';
  }
}

/** Reads SMTP replies until one with `code` (a final line "code "), rejecting on anything else. */
function smtpExpect(socket: Socket, code: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      const lines = buffer.split('\r\n');
      const last = lines.slice(0, -1).find((l) => /^\d{3} /.test(l));
      if (!last) return;
      socket.off('data', onData);
      if (last.startsWith(`${code} `)) resolve();
      else reject(new Error(`SMTP: expected ${code}, got "${last.slice(0, 200)}"`));
    };
    socket.on('data', onData);
  });
}

/** A plain connection taken through EHLO and STARTTLS, ready for the TLS handshake. */
async function smtpStarttls(o: { host: string; address: string; port: number; timeoutMs?: number }): Promise<Socket> {
  const socket = plainConnect(o.port, o.address);
  socket.setTimeout(o.timeoutMs ?? 10_000, () => socket.destroy(new Error(`SMTP with ${o.host}:${o.port} timed out`)));
  const failed = new Promise<never>((_, reject) => socket.once('error', reject));
  const steps = (async () => {
    await smtpExpect(socket, '220');
    socket.write('EHLO certctl.verify\r\n');
    await smtpExpect(socket, '250');
    socket.write('STARTTLS\r\n');
    await smtpExpect(socket, '220');
    return socket;
  })();
  return Promise.race([steps, failed]);
}

/**
 * SHA-256 of the DER of the certificate a TLS endpoint presents (its leaf), lowercase hex. The host is resolved
 * and checked against the outbound policy, and the connection goes to the checked address (no DNS rebinding).
 */
export async function servedFingerprint(o: { host: string; port: number; servername?: string; timeoutMs?: number; starttls?: 'smtp' }): Promise<string> {
  const { address } = await resolveOutboundAddress(o.host);
  const plain = o.starttls === 'smtp' ? await smtpStarttls({ ...o, address }) : undefined;
  return new Promise((resolve, reject) => {
    const isIp = /^[\d.]+$|:/.test(o.host);
    const socket = connect({
      ...(plain ? { socket: plain } : { host: address, port: o.port }), rejectUnauthorized: false,
      ...(o.servername || !isIp ? { servername: o.servername ?? o.host } : {}),
    });
    socket.setTimeout(o.timeoutMs ?? 10_000, () => socket.destroy(new Error(`TLS handshake with ${o.host}:${o.port} timed out`)));
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      plain?.destroy();
      if (!raw) return reject(new Error(`${o.host}:${o.port} presented no certificate`));
      resolve(createHash('sha256').update(raw).digest('hex'));
    });
    socket.once('error', (err) => reject(err));
  });
}

/**
 * Handshakes until the endpoint serves the expected leaf: `attempts` tries (default 3), waiting 1 s, doubling,
 * at most 16 s between them. Resolves with the served fingerprint or throws VerificationMismatch.
 */
export async function verifyServedCertificate(o: VerifyOptions): Promise<string> {
  const attempts = o.attempts ?? 3;
  let delay = o.initialBackoffMs ?? 1_000;
  let last: string | null = null;
  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      last = await servedFingerprint(o);
      if (last === o.expectedFingerprint.toLowerCase()) return last;
      lastError = `${o.host}:${o.port} serves ${last}, expected ${o.expectedFingerprint}`;
    } catch (err) {
      // A refusal of the outbound policy does not change by waiting.
      if (err instanceof OutboundUrlError) throw new VerificationMismatch(`${o.host}:${o.port}: refused by the outbound policy: ${err.message}`, null);
      lastError = `${o.host}:${o.port}: ${(err as Error).message}`;
    }
    if (attempt < attempts) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, o.maxBackoffMs ?? 16_000);
    }
  }
  throw new VerificationMismatch(lastError, last);
}

/** Why a private key does not belong to a certificate (or either does not parse), else undefined. Never echoes the key. */
export function keyMismatch(certPem: string, keyPem: string): string | undefined {
  let certKey: Buffer;
  try {
    certKey = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  } catch {
    return 'the certificate is not a valid PEM X.509 certificate';
  }
  let keyOfKey: Buffer;
  try {
    keyOfKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  } catch {
    return 'the private key does not parse';
  }
  return certKey.equals(keyOfKey) ? undefined : 'the private key does not match the certificate';
}

/** SHA-256 of the first certificate of a PEM bundle, as served fingerprints are computed. */
export function leafFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}
