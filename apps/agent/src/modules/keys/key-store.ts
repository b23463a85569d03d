import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { loadPki } from './pki-loader';

/** Ids come from the server; anything else than these characters could walk out of the key directory. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export class KeyStoreError extends Error {}

/**
 * Private keys made on this host, one directory (0700), one file per certificate (0600). A renewal's new key is
 * `<certificate_id>.next.key` until a certificate for it arrives; it then replaces `<certificate_id>.key`, so
 * redeploying the current version keeps working while a renewal waits for its certificate.
 * The keys are never sent anywhere and never logged.
 */
export class KeyStore {
  constructor(readonly dir: string) {}

  /** Creates the directory (0700), or tightens an existing one's mode. */
  prepare(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if ((statSync(this.dir).mode & 0o077) !== 0) chmodSync(this.dir, 0o700);
  }

  /** A new ECDSA P-256 key for the certificate's next version, written before its CSR leaves the host. */
  async newCsr(certificateId: string, commonName: string, sans: string[]): Promise<string> {
    const path = this.path(certificateId, 'next');
    const pki = await loadPki();
    const keys = await pki.generateKeyObjects(pki.DEFAULT_KEY_SPEC);
    writePrivate(path, pki.privateKeyPemOf(keys.privateKey));
    return pki.createCsr({ keys, keySpec: pki.DEFAULT_KEY_SPEC, commonName, sans });
  }

  /**
   * The key of this certificate (leaf PEM): the pending one when the certificate was issued for it (it then
   * becomes the current key), else the current one. Throws when no key here belongs to the certificate.
   */
  keyFor(certificateId: string, leafPem: string): string {
    const next = this.path(certificateId, 'next');
    const current = this.path(certificateId, 'current');
    const nextPem = readIfExists(next);
    if (nextPem && keyBelongsTo(leafPem, nextPem)) {
      renameSync(next, current);
      return nextPem;
    }
    const currentPem = readIfExists(current);
    if (currentPem && keyBelongsTo(leafPem, currentPem)) return currentPem;
    throw new KeyStoreError(`no private key on this host matches the certificate of ${certificateId} (looked in ${this.dir}); `
      + 'its key was made elsewhere or deleted: renew the certificate so this agent makes a new one');
  }

  path(certificateId: string, which: 'current' | 'next'): string {
    if (!SAFE_ID.test(certificateId) || certificateId.includes('..')) throw new KeyStoreError(`refusing certificate id ${JSON.stringify(certificateId)} as a file name`);
    return join(this.dir, which === 'current' ? `${certificateId}.key` : `${certificateId}.next.key`);
  }
}

/**
 * Whether the key is the certificate's (same public key). libs/deploy's keyMismatch says the same, but loading
 * libs/deploy at start would grow an idle agent; the connector checks again before anything goes live.
 */
function keyBelongsTo(leafPem: string, keyPem: string): boolean {
  try {
    const ofCertificate = new X509Certificate(leafPem).publicKey.export({ type: 'spki', format: 'der' });
    const ofKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return ofCertificate.equals(ofKey);
  } catch {
    return false;
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write to a 0600 temp file, fsync, rename: a crash leaves the old key or the new one, never half of one. */
function writePrivate(path: string, pem: string): void {
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkSync(temp);
    throw err;
  }
}
