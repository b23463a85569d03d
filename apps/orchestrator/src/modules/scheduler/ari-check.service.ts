import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { splitPemChain } from '@certctl/pki';
import { ACME_ISSUER_TYPE, ariCertId, IssuerConnectors, RenewalInfo, retryAfterOf } from '@certctl/issuers';
import { ARI_DEFAULT_POLL_MS, ARI_ERROR_POLL_MS, KnownWindow, nextPollTime, selectRenewalTime } from './ari-window';

/** At most this many certificates are polled per tick; the rest wait for the next tick, most overdue first. */
export const ARI_POLLS_PER_TICK = 200;
/** Requests to CAs in flight at once during a tick. */
export const ARI_CONCURRENCY = 4;

export interface AriCheckResult {
  polled: number;
  windows: number;
  notOffered: number;
  failed: number;
}

interface Candidate {
  certificate_id: string;
  issuer_id: string;
  version_id: string;
  pem_chain: string;
  known_version_id: string | null;
  window_start: Date | null;
  window_end: Date | null;
  selected_renewal_at: Date | null;
  explanation_url: string | null;
}

interface Row {
  ari_cert_id: string;
  window_start: Date | null;
  window_end: Date | null;
  selected_renewal_at: Date | null;
  explanation_url: string | null;
  next_poll_at: Date;
  last_error: string | null;
}

/**
 * Polls ACME Renewal Information (RFC 9773) for the newest version of Active/Expiring certificates of ACME
 * issuers: those never polled, those renewed since (a new serial), and those whose next poll time (the CA's
 * Retry-After) has come. Each answer is kept in certificate_renewal_info with a renewal time chosen at random
 * inside the window; the renewal sweep renews once that time has passed. A CA without renewalInfo, or one that
 * fails to answer, is recorded and the policy's renewal window alone decides (the sweep never waits for ARI).
 */
@Injectable()
export class AriCheckService {
  private readonly logger = new Logger(AriCheckService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly connectors: IssuerConnectors,
  ) {}

  async check(now = new Date()): Promise<AriCheckResult> {
    const due: Candidate[] = await this.dataSource.query(
      `SELECT c.id AS certificate_id, c.issuer_id, v.id AS version_id, v.pem_chain,
              r.certificate_version_id AS known_version_id, r.window_start, r.window_end, r.selected_renewal_at, r.explanation_url
         FROM managed_certificates c
         JOIN issuers i ON i.id = c.issuer_id AND i.type = $1 AND i.enabled
        CROSS JOIN LATERAL (SELECT id, pem_chain FROM certificate_versions
                             WHERE certificate_id = c.id ORDER BY created_at DESC, id DESC LIMIT 1) v
         LEFT JOIN certificate_renewal_info r ON r.certificate_id = c.id
        WHERE c.status IN ('Active', 'Expiring')
          AND (r.certificate_id IS NULL OR r.certificate_version_id IS DISTINCT FROM v.id OR r.next_poll_at <= $2)
        ORDER BY r.next_poll_at NULLS FIRST, c.expires_at
        LIMIT $3`,
      [ACME_ISSUER_TYPE, now, ARI_POLLS_PER_TICK],
    );
    const result: AriCheckResult = { polled: 0, windows: 0, notOffered: 0, failed: 0 };
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const candidate = due[next++]!;
        const outcome = await this.poll(candidate, now);
        result.polled++;
        result[outcome]++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(ARI_CONCURRENCY, due.length) }, worker));
    if (result.polled) this.logger.log(result, 'ARI check');
    return result;
  }

  private async poll(c: Candidate, now: Date): Promise<'windows' | 'notOffered' | 'failed'> {
    const leafPem = splitPemChain(c.pem_chain)[0] ?? '';
    const sameVersion = c.known_version_id === c.version_id;
    // A failed poll keeps the last good window of the same version: the CA's earlier answer still stands.
    const kept: Pick<Row, 'window_start' | 'window_end' | 'selected_renewal_at' | 'explanation_url'> = sameVersion
      ? { window_start: c.window_start, window_end: c.window_end, selected_renewal_at: c.selected_renewal_at, explanation_url: c.explanation_url }
      : { window_start: null, window_end: null, selected_renewal_at: null, explanation_url: null };
    let ariId = '';
    let info: RenewalInfo | null;
    try {
      ariId = ariCertId(leafPem);
      const { connector } = await this.connectors.forIssuer(c.issuer_id);
      info = connector.renewalInfo ? await connector.renewalInfo(leafPem) : null;
    } catch (err) {
      const message = (err as Error).message;
      this.logger.warn({ certificateId: c.certificate_id, err: message }, 'ARI poll failed; the policy renewal window still applies');
      await this.save(c, now, { ...kept, ari_cert_id: ariId, last_error: message, next_poll_at: nextPollTime(now, retryAfterOf(err), ARI_ERROR_POLL_MS) });
      return 'failed';
    }
    if (!info) {
      await this.save(c, now, {
        ...kept, ari_cert_id: ariId, last_error: 'the issuer offers no renewal information (no renewalInfo in its ACME directory, or ari_enabled is false)',
        next_poll_at: nextPollTime(now, undefined, ARI_DEFAULT_POLL_MS),
      });
      return 'notOffered';
    }
    const known: KnownWindow = { versionId: c.known_version_id, start: c.window_start, end: c.window_end, selected: c.selected_renewal_at };
    await this.save(c, now, {
      ari_cert_id: ariId,
      window_start: info.start,
      window_end: info.end,
      selected_renewal_at: selectRenewalTime(known, c.version_id, info),
      explanation_url: info.explanationUrl ?? null,
      next_poll_at: nextPollTime(now, info.retryAfter, ARI_DEFAULT_POLL_MS),
      last_error: null,
    });
    return 'windows';
  }

  private async save(c: Candidate, now: Date, row: Row): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO certificate_renewal_info (certificate_id, certificate_version_id, ari_cert_id, window_start, window_end,
              selected_renewal_at, explanation_url, last_polled_at, next_poll_at, last_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (certificate_id) DO UPDATE SET
         certificate_version_id = EXCLUDED.certificate_version_id, ari_cert_id = EXCLUDED.ari_cert_id,
         window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
         selected_renewal_at = EXCLUDED.selected_renewal_at, explanation_url = EXCLUDED.explanation_url,
         last_polled_at = EXCLUDED.last_polled_at, next_poll_at = EXCLUDED.next_poll_at,
         last_error = EXCLUDED.last_error, updated_at = now()`,
      [c.certificate_id, c.version_id, row.ari_cert_id, row.window_start, row.window_end, row.selected_renewal_at,
        row.explanation_url, now, row.next_poll_at, row.last_error],
    );
  }
}
