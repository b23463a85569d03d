import { randomBytes } from 'node:crypto';
import { exportJWK, FlattenedSign, generateKeyPair, type CryptoKey, type JWK } from 'jose';

/**
 * A hand-written ACME request signer for the tests that must send what no well-behaved client sends (a wrong
 * signature, a reused nonce, both kid and jwk…). Built on jose, as RFC 8555 §6.2 describes the JWS.
 */
export interface RawKey {
  privateKey: CryptoKey;
  jwk: JWK;
  alg: string;
}

export async function rawKey(alg = 'ES256'): Promise<RawKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: await exportJWK(publicKey), alg };
}

export interface RawOptions {
  key: RawKey;
  kid?: string;
  /** Put the jwk in the header (new-account, revoke by certificate key). */
  jwk?: boolean;
  nonce?: string | null;
  /** Overrides the `url` header. */
  url?: string;
  /** Overrides the `alg` header (the signature stays the key's). */
  alg?: string;
  /** Extra protected header fields. */
  extra?: Record<string, unknown>;
  /** Flip a byte of the signature. */
  tamper?: boolean;
  contentType?: string;
}

export class RawAcme {
  constructor(readonly directoryUrl: string) {}

  async directory(): Promise<Record<string, any>> {
    return (await fetch(this.directoryUrl)).json() as Promise<Record<string, any>>;
  }

  async nonce(): Promise<string> {
    const dir = await this.directory();
    const res = await fetch(dir.newNonce, { method: 'HEAD' });
    return res.headers.get('replay-nonce')!;
  }

  async sign(url: string, payload: unknown, o: RawOptions): Promise<string> {
    const header: Record<string, unknown> = { alg: o.alg ?? o.key.alg, url: o.url ?? url, ...o.extra };
    const nonce = o.nonce === undefined ? await this.nonce() : o.nonce;
    if (nonce !== null) header.nonce = nonce;
    if (o.kid) header.kid = o.kid;
    if (o.jwk) header.jwk = o.key.jwk;
    const bytes = payload === '' ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    const jws = await new FlattenedSign(bytes).setProtectedHeader({ ...(header as { alg: string }), alg: o.key.alg }).sign(o.key.privateKey);
    if (o.alg) jws.protected = Buffer.from(JSON.stringify(header)).toString('base64url');
    if (o.tamper) {
      const sig = Buffer.from(jws.signature, 'base64url');
      sig[0] = sig[0]! ^ 0xff;
      jws.signature = sig.toString('base64url');
    }
    return JSON.stringify(jws);
  }

  async post(url: string, payload: unknown, o: RawOptions): Promise<{ status: number; headers: Headers; body: any }> {
    const body = await this.sign(url, payload, o);
    return this.send(url, body, o.contentType);
  }

  async send(url: string, body: string | Buffer, contentType = 'application/jose+json'): Promise<{ status: number; headers: Headers; body: any }> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : new Uint8Array(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // PEM or empty
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }
}

export const randomName = (label: string) => `${label}-${randomBytes(4).toString('hex')}.example.test`;
