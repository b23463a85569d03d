import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { REDIS } from '@certctl/db';
import { ClusterCounters } from '@certctl/observability';
import {
  buildOcspResponse, CertStatus, certIdFor, certIdNamesIssuer, encodeSingleResponse, isRevocationReason, ocspErrorResponse, OcspCertId,
  OcspErrorStatus, OcspRequestInfo, parseOcspRequest,
} from '@certctl/pki';
import { OcspResponderStore } from './ocsp-responder.store';
import { clientKeyOf } from './client-key';
import { SharedRateLimit } from './shared-rate-limit';
import { OCSP_COUNTER, OcspCounterLabel } from './revocation-counters';
import { RevocationAuthorities, RevocationAuthority, RevocationAuthorityError } from './revocation-authorities';

export interface OcspQuery {
  issuerId: string;
  method: 'GET' | 'POST';
  /** A DER OCSPRequest (POST body, or the RFC 5019 GET path decoded). */
  request?: Buffer;
  /** certctl's GET /{issuer_id}/{serial_hex} form. */
  serialHex?: string;
  /** The client address the rate limit counts against (grouped by clientKeyOf). */
  client: string;
}

export interface OcspAnswer {
  httpStatus: number;
  body: Buffer;
  headers: Record<string, string>;
}

/** A signed answer for one CertID: its SingleResponse (re-used under a nonce) and the whole pre-signed response. */
interface CachedEntry {
  status: CertStatus['status'];
  single: Buffer;
  full: Buffer;
  /** When this answer stops being handed out (half its validity after signing), in ms since the epoch. */
  reuseUntil: number;
}

/** How long a replica trusts its copy of an issuer's revocation epoch: a revocation reaches every replica within this. */
const EPOCH_TTL_MS = 500;
/** Pre-signed answers a replica keeps in memory besides Redis (about 0.5 KB each), so a hot serial costs no round trip. */
const LOCAL_ANSWERS_MAX = 20_000;
/**
 * Signed `unknown` answers (serials this CA never issued) are kept only here, briefly and few: anyone can ask
 * about random serials, so they must cost no Redis key and no database row, and must not evict real answers.
 */
const UNKNOWN_ANSWERS_MAX = 1_000;
const UNKNOWN_REUSE_MS = 10_000;
/** A serial in certctl's GET form: plain hex, which base64 of a DER SEQUENCE (starting 'M') never is. */
const SERIAL_HEX = /^[0-9a-fA-F]{1,40}$/;
const BASE64_TEXT = /^[A-Za-z0-9+/=_-]+$/;
const OCSP_CONTENT_TYPE = 'application/ocsp-response';

/**
 * The OCSP responder (RFC 6960, RFC 5019). Answers without a nonce are pre-signed once and kept in Redis, shared
 * by every replica, under the issuer's revocation epoch (its revocation generation in PostgreSQL, see epoch()): a
 * revocation bumps the epoch in its own transaction, so no replica serves the
 * old answer more than EPOCH_TTL_MS later (and an answer signed from a pre-revocation read lands under the old
 * epoch, where nobody looks). A nonce (RFC 8954, 1..32 octets) makes the answer unique: it is signed per request
 * from the cached SingleResponse. Every request is counted in certctl_ocsp_counter_total.
 */
@Injectable()
export class OcspService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(OcspService.name);
  private readonly prefix: string;
  private readonly epochs = new Map<string, { at: number; value: Promise<string> }>();
  /** The last revocation generation read per issuer, served while PostgreSQL cannot be read. */
  private readonly lastGeneration = new Map<string, string>();
  private readonly signing = new Map<string, Promise<CachedEntry>>();
  /** Answers already fetched or signed here, keyed like Redis (so under the epoch), oldest first. */
  private readonly local = new Map<string, CachedEntry>();
  private readonly unknownAnswers = new Map<string, CachedEntry>();
  private cleanupTimer: NodeJS.Timeout | undefined;
  private readonly rateLimit: SharedRateLimit;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly authorities: RevocationAuthorities,
    private readonly responders: OcspResponderStore,
    private readonly counters: ClusterCounters,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.prefix = config.redis.queuePrefix;
    this.rateLimit = new SharedRateLimit(redis, `${this.prefix}:ocsp-rl`, () => config.revocation.ocspRateLimitPerMinute);
  }

  onModuleInit(): void {
    this.cleanupTimer = setInterval(() => void this.deleteExpiredCacheRows(), this.config.revocation.ocspCacheCleanupIntervalMs).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.cleanupTimer);
  }

  /**
   * Drops database copies past their nextUpdate: the table then holds at most one live row per serial this CA
   * issued (unknown serials are never written), and nothing stale. Every replica may run it; it is idempotent.
   */
  async deleteExpiredCacheRows(): Promise<number> {
    try {
      const result: unknown = await this.dataSource.query('DELETE FROM ocsp_response_cache WHERE next_update < now()');
      return Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'ocsp_response_cache cleanup failed');
      return 0;
    }
  }

  /** How long an OCSP request body may take to arrive once its head is in (CERTCTL_OCSP_BODY_TIMEOUT). */
  get bodyTimeoutMs(): number {
    return this.config.revocation.bodyTimeoutMs;
  }

  get maxRequestBytes(): number {
    return this.config.revocation.ocspMaxRequestBytes;
  }

  /** Resolves once Redis has the increment (callers that answer afterwards never lose a counted request). */
  count(label: OcspCounterLabel): Promise<void> {
    return this.counters.increment(OCSP_COUNTER, { label });
  }

  /** An OCSP error answer (HTTP 200 unless said otherwise: RFC 6960 errors travel in the body). */
  error(status: OcspErrorStatus, httpStatus = 200, extraHeaders: Record<string, string> = {}): OcspAnswer {
    return { httpStatus, body: ocspErrorResponse(status), headers: { 'Content-Type': OCSP_CONTENT_TYPE, 'Cache-Control': 'no-store', ...extraHeaders } };
  }

  /**
   * The answer to one request. Its counter increments reach Redis before it is returned (one pipelined write per
   * event-loop turn for all requests in flight), so a responder killed right after answering loses no count.
   */
  async answer(query: OcspQuery): Promise<OcspAnswer> {
    const counted: Array<Promise<void>> = [];
    const answer = await this.respond(query, (label) => void counted.push(this.count(label)));
    await Promise.all(counted);
    return answer;
  }

  /**
   * The GET forms, from the path after /ocsp/{issuer_id}/: certctl's serial in hex, or RFC 5019's base64
   * OCSPRequest (URL-encoded, may contain '/'). Used by the controller and by the fast path alike.
   */
  answerGet(issuerId: string, encodedPath: string, client: string): Promise<OcspAnswer> {
    let text: string;
    try {
      text = decodeURIComponent(encodedPath);
    } catch {
      text = '%'; // a broken escape: malformed below
    }
    if (SERIAL_HEX.test(text)) return this.answer({ issuerId, method: 'GET', serialHex: text.toLowerCase(), client });
    if (text.length > this.maxRequestBytes * 2 || !BASE64_TEXT.test(text)) {
      return Promise.all([this.count('request_get'), this.count('request_invalid')]).then(() => this.error('malformedRequest'));
    }
    return this.answer({ issuerId, method: 'GET', request: Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64'), client });
  }

  private async respond(query: OcspQuery, count: (label: OcspCounterLabel) => void): Promise<OcspAnswer> {
    count(query.method === 'GET' ? 'request_get' : 'request_post');
    if (await this.rateLimit.hit(clientKeyOf(query.client))) {
      count('rate_limited');
      return this.error('unauthorized', 200, { 'Retry-After': '60' });
    }
    let authority: RevocationAuthority;
    try {
      authority = await this.authorities.forIssuer(query.issuerId);
    } catch (err) {
      if (!(err instanceof RevocationAuthorityError)) throw err;
      if (err.kind === 'issuer_not_found') {
        count('issuer_not_found');
        return this.error('unauthorized', 404);
      }
      count('request_invalid');
      return this.error('unauthorized', 501);
    }

    let info: OcspRequestInfo;
    try {
      info = query.serialHex !== undefined ? { certIds: [certIdFor(authority.identity, query.serialHex)] } : parseOcspRequest(query.request ?? Buffer.alloc(0));
    } catch {
      count('request_invalid');
      return this.error('malformedRequest');
    }
    // RFC 5019 §2.1.1 allows one Request per OCSPRequest; a long list is refused before any lookup or signing.
    if (info.certIds.length > this.config.revocation.ocspMaxCertIds) {
      count('request_invalid');
      return this.error('malformedRequest');
    }
    if (info.nonceProblem) {
      count('nonce_malformed');
      return this.error('unauthorized');
    }
    // A CertID of another CA: this responder is not authoritative for it (RFC 6960 §2.3).
    if (!info.certIds.every((id) => certIdNamesIssuer(id, authority.identity))) {
      count('request_invalid');
      return this.error('unauthorized');
    }

    try {
      const entries = await Promise.all(info.certIds.map((id) => this.entry(authority, id)));
      for (const e of entries) if (e.status === 'unknown') count('cert_not_found');
      let body: Buffer;
      if (!info.nonce && entries.length === 1) {
        body = entries[0]!.full;
      } else {
        const responder = await this.responders.current(authority);
        body = buildOcspResponse({ responder, producedAt: new Date(), singleResponses: entries.map((e) => e.single), nonce: info.nonce });
        if (info.nonce) count('nonce_echoed');
      }
      count('request_success');
      const cacheControl = info.nonce ? 'no-store' : `public, max-age=${Math.floor(this.cacheTtlMs() / 1000)}, no-transform, must-revalidate`;
      return { httpStatus: 200, body, headers: { 'Content-Type': OCSP_CONTENT_TYPE, 'Cache-Control': cacheControl } };
    } catch (err) {
      count('signing_failed');
      this.logger.error({ issuerId: query.issuerId, err: (err as Error).message }, 'OCSP signing failed');
      return this.error('internalError');
    }
  }

  /**
   * After a revocation of this issuer's certificates has committed: new epoch (every cached answer of the issuer
   * is dropped at once), and the database copies of the revoked serials removed.
   */
  async revoked(issuerId: string, serials: string[]): Promise<void> {
    // The generation itself moved in the revoking transaction (a trigger); this replica just stops trusting its copy.
    this.epochs.delete(issuerId);
    if (serials.length) await this.dataSource.query('DELETE FROM ocsp_response_cache WHERE issuer_id = $1 AND serial_hex = ANY($2)', [issuerId, serials]);
  }

  /** Pre-signed answers are reused for half their validity, so no client is handed one close to its nextUpdate. */
  private cacheTtlMs(): number {
    return Math.max(1000, Math.floor(this.config.revocation.ocspResponseValidityMs / 2));
  }

  /**
   * The answer for one CertID under the issuer's current epoch: from this replica's memory, else Redis (shared by
   * the replicas), else signed once (concurrent askers share the signing).
   */
  private async entry(authority: RevocationAuthority, certId: OcspCertId): Promise<CachedEntry> {
    const epoch = await this.epoch(authority.issuerId);
    const key = `${this.prefix}:ocsp2:${authority.issuerId}:${epoch}:${createHash('sha1').update(certId.der).digest('base64url')}`;
    const now = Date.now();
    const held = this.local.get(key) ?? this.unknownAnswers.get(key);
    if (held && held.reuseUntil > now) return held;
    if (held) {
      this.local.delete(key);
      this.unknownAnswers.delete(key);
    }
    const cached = await this.redis.getBuffer(key);
    const fetched = cached ? decodeEntry(cached) : undefined;
    if (fetched && fetched.reuseUntil > now) return this.keep(key, fetched);
    let pending = this.signing.get(key);
    if (!pending) {
      pending = this.sign(authority, certId, key).then((signed) => this.keep(key, signed)).finally(() => this.signing.delete(key));
      this.signing.set(key, pending);
    }
    return pending;
  }

  private keep(key: string, entry: CachedEntry): CachedEntry {
    const store = entry.status === 'unknown' ? this.unknownAnswers : this.local;
    store.set(key, entry);
    if (store.size > (entry.status === 'unknown' ? UNKNOWN_ANSWERS_MAX : LOCAL_ANSWERS_MAX)) store.delete(store.keys().next().value!);
    return entry;
  }

  private async sign(authority: RevocationAuthority, certId: OcspCertId, key: string): Promise<CachedEntry> {
    const certStatus = await this.statusOf(authority.issuerId, certId.serialNumber);
    const responder = await this.responders.current(authority);
    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.config.revocation.ocspResponseValidityMs);
    const single = encodeSingleResponse({ certIdDer: certId.der, certStatus, thisUpdate, nextUpdate });
    const full = buildOcspResponse({ responder, producedAt: thisUpdate, singleResponses: [single] });
    if (certStatus.status === 'unknown') {
      // Not ours (or not yet): answered from memory for a few seconds, never stored where an attacker could fill it.
      return { status: 'unknown', single, full, reuseUntil: Math.min(thisUpdate.getTime() + this.cacheTtlMs(), Date.now() + UNKNOWN_REUSE_MS) };
    }
    const entry: CachedEntry = { status: certStatus.status, single, full, reuseUntil: thisUpdate.getTime() + this.cacheTtlMs() };
    await this.redis.set(key, encodeEntry(entry), 'PX', this.cacheTtlMs());
    // The database copy (certctl's ocsp_response_cache) is for operators and restarts; serving never waits on it.
    void this.dataSource.query(
      `INSERT INTO ocsp_response_cache (issuer_id, serial_hex, response_der, cert_status, revocation_reason, revoked_at, this_update, next_update)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (issuer_id, serial_hex) DO UPDATE SET response_der = EXCLUDED.response_der, cert_status = EXCLUDED.cert_status,
         revocation_reason = EXCLUDED.revocation_reason, revoked_at = EXCLUDED.revoked_at, this_update = EXCLUDED.this_update,
         next_update = EXCLUDED.next_update, created_at = now()`,
      [authority.issuerId, certId.serialNumber, full, certStatus.status, certStatus.status === 'revoked' ? certStatus.reason : null,
        certStatus.status === 'revoked' ? certStatus.revokedAt : null, thisUpdate, nextUpdate],
    ).catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'ocsp_response_cache write failed'));
    return entry;
  }

  private async statusOf(issuerId: string, serial: string): Promise<CertStatus> {
    const [row] = await this.dataSource.query<Array<{ reason: string | null; revoked_at: Date | null; issued: boolean }>>(
      `SELECT r.reason, r.revoked_at,
              EXISTS (SELECT 1 FROM certificate_versions v JOIN managed_certificates c ON c.id = v.certificate_id
                       WHERE v.serial_number = $2 AND c.issuer_id = $1) AS issued
         FROM (SELECT 1) one
         LEFT JOIN certificate_revocations r ON r.issuer_id = $1 AND r.serial_number = $2`,
      [issuerId, serial],
    );
    if (row?.revoked_at) return { status: 'revoked', revokedAt: new Date(row.revoked_at), reason: isRevocationReason(row.reason) ? row.reason : 'unspecified' };
    return row?.issued ? { status: 'good' } : { status: 'unknown' };
  }

  /**
   * The issuer's revocation generation (issuers.revocation_generation, bumped by a trigger in every transaction that
   * changes its revocations). It lives in PostgreSQL, not Redis: a Redis counter went back to 0 when Redis lost its
   * data, and answers cached here under the old value ("good" for serials revoked since) were served again.
   * When PostgreSQL cannot be read, the last value read stays right: no revocation can commit meanwhile.
   */
  private epoch(issuerId: string): Promise<string> {
    const hit = this.epochs.get(issuerId);
    if (hit && Date.now() - hit.at < EPOCH_TTL_MS) return hit.value;
    const lastKnown = this.lastGeneration.get(issuerId);
    const value = this.dataSource
      .query<Array<{ revocation_generation: string }>>('SELECT revocation_generation FROM issuers WHERE id = $1', [issuerId])
      .then(([row]) => {
        const generation = `g${row?.revocation_generation ?? 0}`;
        this.lastGeneration.set(issuerId, generation);
        return generation;
      })
      .catch((err: unknown) => {
        if (lastKnown !== undefined) return lastKnown;
        throw err;
      });
    this.epochs.set(issuerId, { at: Date.now(), value });
    value.catch(() => this.epochs.delete(issuerId));
    return value;
  }
}

const STATUS_CODES: Record<CertStatus['status'], number> = { good: 0, revoked: 1, unknown: 2 };
const STATUS_OF_CODE: CertStatus['status'][] = ['good', 'revoked', 'unknown'];

/** status(1) | reuseUntil(8, float64 ms) | single length(4) | single | full. */
function encodeEntry(entry: CachedEntry): Buffer {
  const header = Buffer.alloc(13);
  header[0] = STATUS_CODES[entry.status];
  header.writeDoubleBE(entry.reuseUntil, 1);
  header.writeUInt32BE(entry.single.length, 9);
  return Buffer.concat([header, entry.single, entry.full]);
}

function decodeEntry(buf: Buffer): CachedEntry {
  const length = buf.readUInt32BE(9);
  return {
    status: STATUS_OF_CODE[buf[0]!] ?? 'unknown',
    reuseUntil: buf.readDoubleBE(1),
    single: buf.subarray(13, 13 + length),
    full: buf.subarray(13 + length),
  };
}
