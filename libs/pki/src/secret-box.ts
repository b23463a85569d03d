import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for secrets held at rest (issuer/target secrets, server-generated private keys, the local CA key).
 * The key is derived with HKDF-SHA-256 from CERTCTL_CONFIG_ENCRYPTION_KEY. Layout: version(1) | iv(12) | tag(16) | ciphertext.
 */
const VERSION = 1;

/** The last secret's derived key: a process uses one CERTCTL_CONFIG_ENCRYPTION_KEY, and this runs per issued key. */
let derived: { secret: string; key: Buffer } | undefined;

function deriveKey(secret: string): Buffer {
  if (derived?.secret !== secret) {
    derived = { secret, key: Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from('certctl'), Buffer.from('config-encryption-v1'), 32)) };
  }
  return derived.key;
}

export function encryptSecret(plaintext: string | Buffer, secret: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret), iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

export function decryptSecret(box: Buffer, secret: string): Buffer {
  if (box.length < 29 || box[0] !== VERSION) throw new Error('unknown secret box format');
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret), box.subarray(1, 13));
  decipher.setAuthTag(box.subarray(13, 29));
  return Buffer.concat([decipher.update(box.subarray(29)), decipher.final()]);
}
