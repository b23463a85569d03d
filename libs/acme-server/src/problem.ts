/** RFC 8555 §6.7 error types this server answers with (`urn:ietf:params:acme:error:<type>`). */
export type AcmeErrorType =
  | 'accountDoesNotExist' | 'alreadyReplaced' | 'alreadyRevoked' | 'badCSR' | 'badNonce' | 'badPublicKey' | 'badRevocationReason'
  | 'badSignatureAlgorithm' | 'caa' | 'connection' | 'dns' | 'externalAccountRequired' | 'incorrectResponse'
  | 'invalidContact' | 'malformed' | 'orderNotReady' | 'rateLimited' | 'rejectedIdentifier' | 'serverInternal'
  | 'tls' | 'unauthorized' | 'unsupportedContact' | 'unsupportedIdentifier' | 'userActionRequired';

export interface AcmeIdentifierRef {
  type: string;
  value: string;
}

export interface ProblemDocument {
  type: string;
  detail: string;
  status?: number;
  identifier?: AcmeIdentifierRef;
  subproblems?: ProblemDocument[];
  algorithms?: string[];
}

const DEFAULT_STATUS: Partial<Record<AcmeErrorType, number>> = {
  unauthorized: 403, orderNotReady: 403, rateLimited: 429, serverInternal: 500, externalAccountRequired: 403,
};

/** A client-facing ACME error: becomes an application/problem+json answer, never a 500 unless it says so. */
export class AcmeProblem extends Error {
  readonly status: number;
  /** Extra headers of the answer (Retry-After of rateLimited, Location of a key-change conflict). */
  headers: Record<string, string> = {};

  constructor(
    readonly type: AcmeErrorType,
    detail: string,
    options: { status?: number; subproblems?: ProblemDocument[]; algorithms?: string[]; identifier?: AcmeIdentifierRef } = {},
  ) {
    super(detail);
    this.status = options.status ?? DEFAULT_STATUS[type] ?? 400;
    this.options = options;
  }

  private readonly options: { subproblems?: ProblemDocument[]; algorithms?: string[]; identifier?: AcmeIdentifierRef };

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }

  toDocument(): ProblemDocument {
    return {
      type: `urn:ietf:params:acme:error:${this.type}`,
      detail: this.message,
      status: this.status,
      ...(this.options.identifier ? { identifier: this.options.identifier } : {}),
      ...(this.options.subproblems?.length ? { subproblems: this.options.subproblems } : {}),
      ...(this.options.algorithms ? { algorithms: this.options.algorithms } : {}),
    };
  }

  static notFound(what: string): AcmeProblem {
    return new AcmeProblem('malformed', `${what} not found`, { status: 404 });
  }
}

/** A subproblem about one identifier (RFC 8555 §6.7.1). */
export function subproblem(type: AcmeErrorType, detail: string, identifier: AcmeIdentifierRef): ProblemDocument {
  return { type: `urn:ietf:params:acme:error:${type}`, detail, identifier };
}
