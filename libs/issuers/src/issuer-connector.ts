import type { KeyObject } from 'node:crypto';
import type { KeySpec, ParsedCsr } from '@certctl/pki';

/** What a certificate's profile allows; null fields mean "no constraint". */
export interface ProfileConstraints {
  allowed_key_algorithms: Array<{ algorithm: string; min_size: number }>;
  max_ttl_seconds: number;
  allowed_ekus: string[];
  required_san_patterns: string[];
  must_staple: boolean;
}

export interface IssueRequest {
  /** Parsed, signature-checked CSR whose names have been checked against the certificate. */
  csr: ParsedCsr;
  commonName: string;
  sans: string[];
  profile: ProfileConstraints | null;
  /** The certctl job this issuance belongs to (logs, idempotency keys). */
  jobId: string;
  /**
   * The leaf (PEM) of the version a renewal replaces. ACME CAs that offer renewal information are told which
   * certificate the order replaces (RFC 9773 §5); other connectors ignore it.
   */
  replacesCertificatePem?: string;
}

/**
 * Server key generation with a CA that signs a public key directly (the Local CA): no CSR is made and parsed
 * back, the key is the server's own and the names are the certificate's.
 */
export interface KeyIssueRequest {
  publicKey: KeyObject;
  keySpec: KeySpec;
  commonName: string;
  sans: string[];
  profile: ProfileConstraints | null;
  jobId: string;
}

/** What a certificate version records about its leaf, when the connector knows it without parsing the leaf. */
export interface IssuedLeafDetails {
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  fingerprintSha256: string;
  /** The CRL partition the leaf's CRL Distribution Point names (Local CA issuers with crl_shards > 1). */
  crlShard?: number;
}

export interface IssuedCertificate {
  /** The end-entity certificate, PEM. */
  leafPem: string;
  /** Intermediates (and the root, where the CA hands it out), PEM, leaf's issuer first. */
  chainPems: string[];
  /** Set by connectors that built the leaf themselves. */
  details?: IssuedLeafDetails;
}

/**
 * Why an issuance failed. `permanent`: retrying cannot help (the CA refused the request, the config is wrong);
 * `transient`: the CA was unreachable or busy, so the job retries with backoff.
 */
export class IssuerError extends Error {
  constructor(readonly kind: 'permanent' | 'transient', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IssuerError';
  }
}

/** One configured CA connection (an `issuers` row made live). */
export interface IssuerConnector {
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  /** Only connectors whose CA signs a bare public key (no CSR) implement it; server keygen then skips the CSR. */
  issueForKey?(request: KeyIssueRequest): Promise<IssuedCertificate>;
  /** Checks the CA can be used (connectivity, credentials, CA material); returns a one-line description. */
  test(): Promise<string>;
  /**
   * The CA's suggested renewal window for a certificate it issued (ACME Renewal Information, RFC 9773), or
   * null when the CA does not offer one. Only connectors whose CA can suggest windows implement it.
   */
  renewalInfo?(certificatePem: string): Promise<RenewalInfo | null>;
  /**
   * Tells the CA that a certificate it issued is revoked (RFC 5280 reason code). Only connectors whose CA keeps
   * its own revocation list implement it; the Local CA's CRL and OCSP are this server's own.
   */
  revoke?(certificatePem: string, reasonCode: number): Promise<void>;
}

/** A CA's renewal suggestion: renew at a moment chosen at random inside [start, end]. */
export interface RenewalInfo {
  start: Date;
  end: Date;
  /** Why the CA wants an early renewal (e.g. an incident report), when it says. */
  explanationUrl?: string;
  /** When to ask again (from Retry-After), as a time. */
  retryAfter?: Date;
}
