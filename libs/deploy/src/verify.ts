import { createHash, X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { connect } from 'node:tls';

export interface VerifyOptions {
  host: string;
  port: number;
  /** SNI; defaults to host when it is a name. */
  servername?: string;
  expectedFingerprint: string;
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

/** SHA-256 of the DER of the certificate a TLS endpoint presents (its leaf), lowercase hex. */
export function servedFingerprint(o: { host: string; port: number; servername?: string; timeoutMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const isIp = /^[\d.]+$|:/.test(o.host);
    const socket = connect({
      host: o.host, port: o.port, rejectUnauthorized: false,
      ...(o.servername || !isIp ? { servername: o.servername ?? o.host } : {}),
    });
    socket.setTimeout(o.timeoutMs ?? 10_000, () => socket.destroy(new Error(`TLS handshake with ${o.host}:${o.port} timed out`)));
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
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
