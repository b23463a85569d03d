import { createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCallback, generateKeyPairSync, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { PkiError } from './errors';
import { subtle } from './crypto-provider';

export type KeySpec =
  | { algorithm: 'ECDSA'; curve: 'P-256' | 'P-384' }
  | { algorithm: 'RSA'; bits: 2048 | 3072 | 4096 };

export const DEFAULT_KEY_SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

/** The WebCrypto parameters that generate, import and sign with a key of this spec. */
export function webCryptoParams(spec: KeySpec): { generate: RsaHashedKeyGenParams | EcKeyGenParams; sign: Algorithm | EcdsaParams } {
  if (spec.algorithm === 'ECDSA') {
    const hash = spec.curve === 'P-384' ? 'SHA-384' : 'SHA-256';
    return { generate: { name: 'ECDSA', namedCurve: spec.curve }, sign: { name: 'ECDSA', hash } as EcdsaParams };
  }
  return {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: spec.bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  };
}

/**
 * A WebCrypto key pair (CA and intermediate keys). Made as DER by node:crypto and imported, for the reason
 * freshKeyObjects gives: a key handed out by the key generation job itself can deadlock the process later.
 */
export async function generateKeyPair(spec: KeySpec = DEFAULT_KEY_SPEC): Promise<CryptoKeyPair> {
  const { privateKey, publicKey } = await generateDerKeyPair(spec);
  const params = webCryptoParams(spec).generate;
  return {
    privateKey: await subtle.importKey('pkcs8', privateKey, params, true, ['sign']),
    publicKey: await subtle.importKey('spki', publicKey, params, true, ['verify']),
  };
}

export interface KeyObjectPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const generateKeyPairAsync = promisify(generateKeyPairCallback);

/**
 * A new key pair as DER (PKCS#8, SubjectPublicKeyInfo). EC keys take a fraction of a millisecond and are made
 * inline; RSA keys take long enough to be made off the event loop.
 */
async function generateDerKeyPair(spec: KeySpec): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  const publicKeyEncoding = { type: 'spki', format: 'der' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'der' } as const;
  if (spec.algorithm === 'ECDSA') return generateKeyPairSync('ec', { namedCurve: spec.curve, publicKeyEncoding, privateKeyEncoding });
  return generateKeyPairAsync('rsa', { modulusLength: spec.bits, publicExponent: 0x10001, publicKeyEncoding, privateKeyEncoding });
}

/**
 * A key pair as node:crypto KeyObjects: what the synchronous signing path of libs/pki uses.
 *
 * Never the KeyObjects the generation job returns: on Node 20 they share a mutex with that job, whose destructor
 * (run by a garbage collection, any time later) takes it; a collection that runs while this thread holds it — in
 * the middle of `key.export({ format: 'jwk' })`, which allocates strings under it — waits for itself forever. An
 * orchestrator froze that way in bench:soak (main thread in ~KeyGenJob → uv_mutex_lock under ExportJWK), and
 * generateKeyPairSync + export in a loop reproduces it. Keys made from DER have mutexes of their own.
 */
export async function generateKeyObjects(spec: KeySpec = DEFAULT_KEY_SPEC): Promise<KeyObjectPair> {
  const { privateKey, publicKey } = await generateDerKeyPair(spec);
  return {
    privateKey: createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: publicKey, format: 'der', type: 'spki' }),
  };
}

/** PKCS#8 PEM of a private key. */
export async function exportPrivateKeyPem(key: CryptoKey | KeyObject): Promise<string> {
  return key instanceof KeyObject ? privateKeyPemOf(key) : toPem(Buffer.from(await subtle.exportKey('pkcs8', key)), 'PRIVATE KEY');
}

/** PKCS#8 PEM of a private KeyObject, synchronously. */
export function privateKeyPemOf(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Imports a PKCS#8 (or SEC1 / PKCS#1) private key PEM as a signing key pair, detecting its algorithm. */
export async function importPrivateKeyPem(pem: string): Promise<{ keys: CryptoKeyPair; spec: KeySpec }> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch {
    throw new PkiError('MALFORMED', 'not a readable private key');
  }
  const spec = keySpecOf(keyObject);
  const params = webCryptoParams(spec).generate;
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
  const privateKey = await subtle.importKey('pkcs8', pkcs8, params, true, ['sign']);
  const publicKey = await subtle.importKey('spki', spki, params, true, ['verify']);
  return { keys: { privateKey, publicKey }, spec };
}

/** The algorithm and size of a key, as certctl reports them (`ECDSA` 256/384, `RSA` bits). */
export function keySpecOf(key: KeyObject): KeySpec {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1' || details.namedCurve === 'P-256') return { algorithm: 'ECDSA', curve: 'P-256' };
    if (details.namedCurve === 'secp384r1' || details.namedCurve === 'P-384') return { algorithm: 'ECDSA', curve: 'P-384' };
    throw new PkiError('POLICY', `unsupported curve ${details.namedCurve ?? 'unknown'}`);
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits === 2048 || bits === 3072 || bits === 4096) return { algorithm: 'RSA', bits };
    throw new PkiError('POLICY', `unsupported RSA size ${bits}`);
  }
  throw new PkiError('POLICY', `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

export function keySize(spec: KeySpec): number {
  return spec.algorithm === 'RSA' ? spec.bits : spec.curve === 'P-384' ? 384 : 256;
}

export function toPem(der: Buffer | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der as ArrayBuffer).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** The DER bytes of the first PEM block with this label. */
export function fromPem(pem: string, label: string): Buffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!match) throw new PkiError('MALFORMED', `no ${label} PEM block`);
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}
