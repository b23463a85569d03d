import { KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IssuerIdentity, issuerIdentityOf, Signer, SigningAuthority } from '@certctl/pki';
import { IssuerConnectors } from '../issuers.module';
import { LocalCaConnector } from '../local-ca/local-ca.connector';

/** Issuer types whose CA key this server holds, so it can sign CRLs and OCSP responder certificates. */
export const CRL_CAPABLE_ISSUER_TYPES: readonly string[] = ['GenericCA', 'local'];

/** Why an issuer has no CRL/OCSP here: unknown (404) or a CA whose key is elsewhere (501). */
export class RevocationAuthorityError extends Error {
  constructor(readonly kind: 'issuer_not_found' | 'not_supported', message: string) {
    super(message);
    this.name = 'RevocationAuthorityError';
  }
}

export interface RevocationAuthority {
  issuerId: string;
  identity: IssuerIdentity;
  signer: Signer;
  ca: SigningAuthority;
}

/** How long an issuer lookup is reused: OCSP answers are on a hot path, issuers change rarely. */
const LOOKUP_TTL_MS = 10_000;

/** The CA of a Local CA issuer, decoded for CRL and OCSP signing; lookups (and misses) cached for a few seconds. */
@Injectable()
export class RevocationAuthorities {
  private readonly cache = new Map<string, { at: number; value: Promise<RevocationAuthority> }>();

  constructor(private readonly connectors: IssuerConnectors, @InjectDataSource() private readonly dataSource: DataSource) {}

  forIssuer(issuerId: string): Promise<RevocationAuthority> {
    const hit = this.cache.get(issuerId);
    if (hit && Date.now() - hit.at < LOOKUP_TTL_MS) return hit.value;
    const value = this.load(issuerId);
    this.cache.set(issuerId, { at: Date.now(), value });
    // A CA that failed to load for another reason is tried again at the next request.
    value.catch((err: unknown) => { if (!(err instanceof RevocationAuthorityError)) this.cache.delete(issuerId); });
    if (this.cache.size > 10_000) this.cache.clear(); // bounded: ids in URLs come from anyone
    return value;
  }

  private async load(issuerId: string): Promise<RevocationAuthority> {
    const rows: Array<{ type: string }> = await this.dataSource.query('SELECT type FROM issuers WHERE id = $1', [issuerId]);
    if (!rows[0]) throw new RevocationAuthorityError('issuer_not_found', `issuer ${issuerId} not found`);
    if (!CRL_CAPABLE_ISSUER_TYPES.includes(rows[0].type)) {
      throw new RevocationAuthorityError('not_supported', `issuer ${issuerId} (${rows[0].type}) does not sign CRLs or OCSP responses here`);
    }
    const { connector } = await this.connectors.forIssuer(issuerId);
    if (!(connector instanceof LocalCaConnector)) throw new RevocationAuthorityError('not_supported', `issuer ${issuerId} has no local CA key`);
    const ca = await connector.signingAuthority();
    return {
      issuerId,
      identity: issuerIdentityOf(Buffer.from(ca.certificate.rawData)),
      signer: { key: KeyObject.from(ca.privateKey), spec: ca.keySpec },
      ca,
    };
  }
}
