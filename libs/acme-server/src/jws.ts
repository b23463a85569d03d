import { calculateJwkThumbprint, flattenedVerify, importJWK, type FlattenedJWSInput, type JWK } from 'jose';
import { AcmeProblem } from './problem';

/** Account key algorithms accepted (RFC 8555 §6.2: asymmetric only; EdDSA by RFC 8037, both its names). */
export const ACCOUNT_KEY_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'EdDSA', 'Ed25519'] as const;
/** External account binding MACs (RFC 8555 §7.3.4). */
export const EAB_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

export interface ProtectedHeader {
  alg: string;
  nonce?: string;
  url?: string;
  kid?: string;
  jwk?: JWK;
}

/** A flattened JWS (the only serialization RFC 8555 §6.2 allows), its protected header decoded, not yet verified. */
export interface ParsedJws {
  input: FlattenedJWSInput;
  header: ProtectedHeader;
}

function malformed(detail: string): AcmeProblem {
  return new AcmeProblem('malformed', detail);
}

/** Parses the request body as a flattened JWS with the header fields §6.2 requires; every flaw is `malformed`. */
export function parseJws(body: Buffer | string): ParsedJws {
  let value: unknown;
  try {
    value = JSON.parse(body.toString());
  } catch {
    throw malformed('request body is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw malformed('request body is not a flattened JWS object');
  const jws = value as Record<string, unknown>;
  if ('signatures' in jws || 'header' in jws) throw malformed('only the flattened JWS serialization without an unprotected header is accepted');
  for (const field of ['protected', 'payload', 'signature']) {
    if (typeof jws[field] !== 'string') throw malformed(`JWS field "${field}" is missing or not a string`);
  }
  let header: ProtectedHeader;
  try {
    header = JSON.parse(Buffer.from(jws.protected as string, 'base64url').toString('utf8')) as ProtectedHeader;
  } catch {
    throw malformed('JWS protected header is not base64url-encoded JSON');
  }
  if (!header || typeof header !== 'object' || typeof header.alg !== 'string') throw malformed('JWS protected header has no "alg"');
  if (header.jwk !== undefined && header.kid !== undefined) throw malformed('JWS protected header has both "jwk" and "kid"');
  if (header.jwk === undefined && header.kid === undefined) throw malformed('JWS protected header has neither "jwk" nor "kid"');
  if (header.jwk !== undefined && (typeof header.jwk !== 'object' || Array.isArray(header.jwk) || header.jwk === null)) throw malformed('"jwk" is not a JSON Web Key');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw malformed('"kid" is not a string');
  if (typeof header.url !== 'string') throw malformed('JWS protected header has no "url"');
  return { input: { protected: jws.protected as string, payload: jws.payload as string, signature: jws.signature as string }, header };
}

export function checkAccountAlgorithm(alg: string): void {
  if (!(ACCOUNT_KEY_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new AcmeProblem('badSignatureAlgorithm', `algorithm ${alg} is not supported`, { algorithms: ['ES256', 'ES384', 'RS256', 'EdDSA'] });
  }
}

/** A public JWK with nothing private in it, or `badPublicKey`/`malformed`. */
export function publicJwk(jwk: JWK): JWK {
  if (!jwk || typeof jwk !== 'object') throw malformed('"jwk" is not a JSON Web Key');
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new AcmeProblem('badPublicKey', 'the JWK must be a public asymmetric key');
  const { kty, crv, x, y, n, e } = jwk;
  if (kty === 'EC' && (crv === 'P-256' || crv === 'P-384')) return { kty, crv, x, y };
  if (kty === 'OKP' && crv === 'Ed25519') return { kty, crv, x };
  if (kty === 'RSA') {
    const bits = Buffer.from(String(n ?? ''), 'base64url').length * 8;
    if (bits < 2048) throw new AcmeProblem('badPublicKey', `RSA account keys need at least 2048 bits, this one has ${bits}`);
    return { kty, n, e };
  }
  throw new AcmeProblem('badPublicKey', `key type ${String(kty)}${crv ? `/${String(crv)}` : ''} is not supported`);
}

export async function thumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

/** Verifies the JWS signature with the given public key; `malformed` (RFC 8555 §6.2) when it does not verify. Returns the payload text. */
export async function verifyJws(jws: ParsedJws, jwk: JWK): Promise<string> {
  checkAccountAlgorithm(jws.header.alg);
  const alg = jws.header.alg === 'Ed25519' ? 'EdDSA' : jws.header.alg;
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK({ ...jwk, alg: undefined }, alg);
  } catch {
    throw new AcmeProblem('badPublicKey', `the key cannot be used with ${jws.header.alg}`);
  }
  try {
    const { payload } = await flattenedVerify(jws.input, key, { algorithms: [jws.header.alg] });
    return Buffer.from(payload).toString('utf8');
  } catch {
    throw malformed('JWS signature does not verify');
  }
}

/**
 * Verifies an external account binding (RFC 8555 §7.3.4): a flattened JWS MAC'd with the EAB key's HMAC, whose
 * payload is the account's JWK and whose url is the new-account URL. Returns the EAB key id it names.
 */
export function parseEab(eab: unknown, outerUrl: string): { parsed: ParsedJws; kid: string } {
  if (!eab || typeof eab !== 'object') throw malformed('externalAccountBinding is not a JWS object');
  const parsed = parseJws(JSON.stringify(eab));
  if (!(EAB_ALGORITHMS as readonly string[]).includes(parsed.header.alg)) {
    throw new AcmeProblem('badSignatureAlgorithm', `externalAccountBinding algorithm ${parsed.header.alg} is not supported`, { algorithms: [...EAB_ALGORITHMS] });
  }
  if (!parsed.header.kid) throw malformed('externalAccountBinding has no "kid"');
  if (parsed.header.nonce !== undefined) throw malformed('externalAccountBinding must not carry a nonce');
  if (parsed.header.url !== outerUrl) throw new AcmeProblem('unauthorized', 'externalAccountBinding "url" differs from the request URL');
  return { parsed, kid: parsed.header.kid };
}

export async function verifyEab(parsed: ParsedJws, hmacKey: Buffer, accountJwk: JWK): Promise<void> {
  let payload: Uint8Array;
  try {
    ({ payload } = await flattenedVerify(parsed.input, hmacKey, { algorithms: [parsed.header.alg] }));
  } catch {
    throw new AcmeProblem('unauthorized', 'externalAccountBinding MAC does not verify');
  }
  let bound: JWK;
  try {
    bound = JSON.parse(Buffer.from(payload).toString('utf8')) as JWK;
  } catch {
    throw malformed('externalAccountBinding payload is not a JWK');
  }
  if ((await thumbprint(publicJwk(bound))) !== (await thumbprint(accountJwk))) {
    throw new AcmeProblem('unauthorized', 'externalAccountBinding binds a different key');
  }
}
