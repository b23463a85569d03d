import type { OutboundPolicy } from '@certctl/config';
import { validateDns01 } from './dns-01';
import { validateHttp01 } from './http-01';
import { invalid, ValidationResult } from './problems';
import { validateTlsAlpn01 } from './tls-alpn-01';

/**
 * The ACME server's challenge validators (RFC 8555 §8.3–8.4, RFC 8737, RFC 8738) and CAA (RFC 8659, RFC 8657).
 * They reach the client on configurable ports and through a configurable DNS server, so every test runs on loopback.
 */
export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

export interface ValidateChallengeInput {
  type: ChallengeType;
  identifier: { type: 'dns' | 'ip'; value: string };
  /** The challenge token (base64url). */
  token: string;
  /** RFC 8555 §8.1: token || '.' || base64url(JWK thumbprint of the account key). */
  keyAuthorization: string;
  options?: {
    /** Where http-01 requests go (default 80). */
    http01Port?: number;
    /** Where tls-alpn-01 handshakes go (default 443). */
    tlsAlpn01Port?: number;
    /** `host:port` of the DNS server for TXT, A and AAAA lookups (default: the system's resolvers). */
    dnsResolver?: string;
    /** Deadline for the whole validation (default 10 s). */
    timeoutMs?: number;
    /** The outbound policy addresses must pass (default: the process's policy, see libs/config outbound-url). */
    outboundPolicy?: OutboundPolicy;
  };
}

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export async function validateChallenge(input: ValidateChallengeInput): Promise<ValidationResult> {
  if (!TOKEN.test(input.token)) return invalid('malformed', 'The challenge token is not base64url');
  if (!input.keyAuthorization.startsWith(`${input.token}.`)) return invalid('malformed', 'The key authorization does not start with the token');
  const timeoutMs = input.options?.timeoutMs ?? 10_000;
  const signal = AbortSignal.timeout(timeoutMs);
  switch (input.type) {
    case 'http-01':
      return validateHttp01(input, signal, timeoutMs);
    case 'dns-01':
      return validateDns01(input, timeoutMs);
    case 'tls-alpn-01':
      return validateTlsAlpn01(input, signal, timeoutMs);
    default:
      return invalid('malformed', `Unsupported challenge type ${String((input as { type: unknown }).type)}`);
  }
}

export { canonicalIp, reverseName } from './addresses';
export type { CaaCheckInput, CaaCheckResult, CaaProperty } from './caa';
export { CaaLookupError, caaProperty, checkCaa, evaluateCaa, formatCaa, parseIssueValue } from './caa';
export { dns01RecordName, dns01TxtValue } from './dns-01';
export { HTTP01_MAX_BODY_BYTES, HTTP01_MAX_REDIRECTS } from './http-01';
export type { AcmeProblemType, ValidationProblem, ValidationResult } from './problems';
export { ACME_IDENTIFIER_OID, ACME_TLS_ALPN_PROTOCOL } from './tls-alpn-01';
