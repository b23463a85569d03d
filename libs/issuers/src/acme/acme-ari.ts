import { x509 } from '@certctl/pki';

/**
 * The ARI certificate identifier (RFC 9773 §4.1): base64url(authority key identifier) "." base64url(serial
 * number), the serial as the DER INTEGER's content octets (a leading zero byte kept when the high bit is set).
 */
export function ariCertId(certificatePem: string): string {
  const cert = new x509.X509Certificate(certificatePem.trim());
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw new Error('the certificate has no authority key identifier, so it has no ARI identifier');
  return `${Buffer.from(aki.keyId, 'hex').toString('base64url')}.${serialOctets(cert.serialNumber).toString('base64url')}`;
}

/** Minimal two's-complement content octets of a positive serial given in hex. */
export function serialOctets(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return bytes;
}

export interface RenewalInfoResponse {
  suggestedWindow?: { start?: string; end?: string };
  explanationURL?: string;
}

/** Reads a renewalInfo response body; throws when the window is missing or not a valid range. */
export function parseRenewalInfo(body: unknown, retryAfterHeader: string | undefined, now = new Date()) {
  const b = body as RenewalInfoResponse | null;
  const start = new Date(b?.suggestedWindow?.start ?? NaN);
  const end = new Date(b?.suggestedWindow?.end ?? NaN);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) {
    throw new Error('the CA answered renewalInfo without a valid suggestedWindow');
  }
  const retryAfter = parseRetryAfter(retryAfterHeader, now);
  return {
    start,
    end,
    ...(typeof b?.explanationURL === 'string' ? { explanationUrl: b.explanationURL } : {}),
    ...(retryAfter ? { retryAfter } : {}),
  };
}

/** A Retry-After header (delay in seconds or an HTTP date) as a time; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now = new Date()): Date | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const at = Number.isFinite(seconds) ? new Date(now.getTime() + seconds * 1000) : new Date(header);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/**
 * The Retry-After the CA sent with a failed renewalInfo answer (e.g. 429 or 503), which the connector attaches
 * to the error it throws, so the caller waits that long before asking again.
 */
export function retryAfterOf(err: unknown): Date | undefined {
  const at = (err as { retryAfter?: unknown } | null)?.retryAfter;
  return at instanceof Date ? at : undefined;
}
