import { KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IssuerIdentity, issuerIdentityOf, Signer, SigningAuthority } from '@certctl/pki';
import { IssuerConnectors } from '../issuers.module';
import { LocalCaConnector } from '../local-ca/local-ca.connector';

/** Issuer types whose CA key this server holds, so it can sign CRLs and OCSP responder certificates. */
export const CRL_CAPABLE_ISSUER_TYPES: readonly string[] = ['GenericCA', 'local'];

/** Why an issuer has no CRL/OCSP here: unknown (404; also a CRL shard it never had) or a CA whose key is elsewhere (501). */
export class RevocationAuthorityError extends Error {
  constructor(readonly kind: 'issuer_not_found' | 'not_supported' | 'shard_not_found', message: string) {
    super(message);
    this.name = 'RevocationAuthorityError';
  }
}

export interface RevocationAuthority {
  issuerId: string;
  identity: IssuerIdentity;
  signer: Signer;
  ca: SigningAuthority;
  /** The CRL partitions new leaves are spread over (1: one CRL). */
  crlShards: number;
  /** The URL leaves of `shard` name as their CRL Distribution Point (the full CRL's when undefined). */
  crlDistributionPoint(shard?: number): string | undefined;
}

/** How long an issuer lookup is reused: OCSP answers are on a hot path, issuers change rarely. */
const LOOKUP_TTL_MS = 10_000;
/**
 * Ids that are not among the known issuer ids are looked up one by one at most this often per second (so an
 * issuer created a moment ago is found at once), beyond that answered from the set of all ids, which is read
 * at most once per KNOWN_IDS_REFRESH_MS: a stream of made-up ids in public URLs costs a few queries a second,
 * not one per id, and a new issuer is found at the latest KNOWN_IDS_REFRESH_MS after its creation.
 */
export const UNKNOWN_ID_LOOKUPS_PER_SECOND = 5;
const KNOWN_IDS_REFRESH_MS = 1_000;

/**
 * The CA of a Local CA issuer, decoded for CRL and OCSP signing; lookups (and misses) cached for a few seconds,
 * and ids that name no issuer refused from the set of known ids without a lookup of their own.
 */
@Injectable()
export class RevocationAuthorities {
  private readonly cache = new Map<string, { at: number; value: Promise<RevocationAuthority> }>();
  private knownIds: { at: number; ids: Promise<Set<string>> } | undefined;
  private lookupBudget = { second: 0, used: 0 };

  constructor(private readonly connectors: IssuerConnectors, @InjectDataSource() private readonly dataSource: DataSource) {}

  async forIssuer(issuerId: string): Promise<RevocationAuthority> {
    const hit = this.cache.get(issuerId);
    if (hit && Date.now() - hit.at < LOOKUP_TTL_MS) return hit.value;
    if (!(await this.mayExist(issuerId))) throw new RevocationAuthorityError('issuer_not_found', `issuer ${issuerId} not found`);
    const value = this.load(issuerId);
    this.cache.set(issuerId, { at: Date.now(), value });
    // A CA that failed to load for another reason is tried again at the next request.
    value.catch((err: unknown) => { if (!(err instanceof RevocationAuthorityError)) this.cache.delete(issuerId); });
    if (this.cache.size > 10_000) this.cache.clear(); // bounded: ids in URLs come from anyone
    return value;
  }

  /** False when the id is not among the issuers' ids (re-read when older than KNOWN_IDS_REFRESH_MS, one read at a time). */
  private async mayExist(issuerId: string): Promise<boolean> {
    const current = this.knownIds;
    if (current && (await current.ids).has(issuerId)) return true;
    if (this.takeLookup()) return true; // load() looks the id up itself (a miss is then cached for LOOKUP_TTL_MS)
    if (current && Date.now() - current.at < KNOWN_IDS_REFRESH_MS) return false;
    let next = this.knownIds;
    if (!next || next === current) {
      const read = { at: Date.now(), ids: this.dataSource.query<Array<{ id: string }>>('SELECT id FROM issuers').then((rows) => new Set(rows.map((r) => r.id))) };
      read.ids.catch(() => { if (this.knownIds === read) this.knownIds = undefined; });
      this.knownIds = read;
      next = read;
    }
    return (await next.ids).has(issuerId);
  }

  private takeLookup(): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (this.lookupBudget.second !== second) this.lookupBudget = { second, used: 0 };
    return this.lookupBudget.used++ < UNKNOWN_ID_LOOKUPS_PER_SECOND;
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
      crlShards: connector.crlShards,
      crlDistributionPoint: (shard) => connector.crlDistributionPoint(shard),
    };
  }
}
