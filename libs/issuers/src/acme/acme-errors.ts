import { OutboundUrlError } from '@certctl/config';
import { IssuerError } from '../issuer-connector';

/** What the CA answered to the last request that failed (RFC 7807 problem document, or just the status). */
export interface AcmeProblem {
  status: number;
  type?: string;
  detail?: string;
}

const PROBLEM_PREFIX = 'urn:ietf:params:acme:error:';
/** Problem types worth retrying: the CA is busy or broken, not refusing this request. */
const TRANSIENT_TYPES = new Set(['rateLimited', 'serverInternal', 'badNonce']);
/** The ACME server's HTTPS certificate is not trusted: a config error (ca_bundle_pem), not an outage. */
const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function problemType(p: AcmeProblem | undefined): string | undefined {
  return p?.type?.startsWith(PROBLEM_PREFIX) ? p.type.slice(PROBLEM_PREFIX.length) : p?.type;
}

export function problemKind(p: AcmeProblem): IssuerError['kind'] {
  const type = problemType(p);
  if (type && TRANSIENT_TYPES.has(type)) return 'transient';
  if (p.status === 408 || p.status === 429 || p.status >= 500) return 'transient';
  return 'permanent';
}

export interface FailureContext {
  /** What was being done, e.g. "creating the order". */
  step: string;
  directoryUrl: string;
  /** The CA's answer to the request that failed, when there was one. */
  problem?: AcmeProblem;
  /** The socket-level error of the failed request (refused, reset, TLS), when there was one. */
  socketError?: NodeJS.ErrnoException;
}

/**
 * Turns whatever acme-client threw into an IssuerError: the CA's problem decides (refusals are permanent;
 * rate limits, 5xx and bad nonces transient); no answer at all is transient, except an untrusted HTTPS
 * certificate, which is a config error.
 */
export function classifyAcmeFailure(err: unknown, ctx: FailureContext): IssuerError {
  if (err instanceof IssuerError) return err;
  const message = (err as Error)?.message ?? String(err);
  if (ctx.problem) {
    const type = problemType(ctx.problem);
    const detail = ctx.problem.detail || message || `HTTP ${ctx.problem.status}`;
    return new IssuerError(problemKind(ctx.problem), `ACME ${ctx.step}: ${detail}${type ? ` (${type})` : ` (HTTP ${ctx.problem.status})`}`, { cause: err });
  }
  if (ctx.socketError instanceof OutboundUrlError) {
    return new IssuerError('permanent', `ACME server ${ctx.directoryUrl} refused by the outbound policy while ${ctx.step}: ${ctx.socketError.message}`, { cause: err });
  }
  const code = ctx.socketError?.code ?? (err as NodeJS.ErrnoException)?.code;
  if (code && TLS_TRUST_CODES.has(code)) {
    return new IssuerError('permanent', `ACME server ${ctx.directoryUrl} presents an untrusted HTTPS certificate (${code}); set ca_bundle_pem`, { cause: err });
  }
  // acme-client reports a request that got no response as a TypeError about "config"; the socket knows why.
  const noResponse = code !== undefined || (err instanceof TypeError && /config/.test(message));
  if (noResponse) {
    const why = ctx.socketError?.message ?? (code ? `${code}: ${message}` : 'no response (timed out or connection failed)');
    return new IssuerError('transient', `ACME server ${ctx.directoryUrl} is unreachable while ${ctx.step}: ${why}`, { cause: err });
  }
  return new IssuerError('transient', `ACME ${ctx.step}: ${message}`, { cause: err });
}
