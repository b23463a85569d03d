import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, Queue, queueJobId } from '@certctl/contracts';
import { issuanceJobOptions, JobProducer, newId } from '@certctl/db';
import { isRevocationReason, RevocationReason } from '@certctl/pki';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { RenewalJobs } from '../certificates/renewal-jobs';
import { ReissueDrillDto } from './dto/reissue.dto';

/** The CA a drill re-issues from: an issuer, or one intermediate CA of a Local CA issuer's tree. */
interface Scope {
  issuerId: string;
  intermediateId: string | null;
  /** The intermediate's certificate (base64 body, no whitespace): a leaf was signed under it when its chain holds it. */
  intermediateBody: string | null;
}

export interface AffectedCertificate {
  certificate_id: string;
  name: string;
  common_name: string;
  serial_number: string;
  not_after: Date;
}

interface AffectedRow extends AffectedCertificate {
  source: string;
}

/** Certificates whose key lives with an ACME client of our ACME server (source ACME): only the client can renew them. */
const RENEWED_BY_CLIENT = 'ACME';

export interface DryRunResult {
  dry_run: true;
  issuer_id: string;
  intermediate_ca_id: string | null;
  total: number;
  /** Re-issued by the server (a Renewal job each). */
  certificates: AffectedCertificate[];
  /** Renewed by their ACME clients via ARI: the drill opens their renewal window now and waits for the client's order. */
  renewed_by_acme_clients: AffectedCertificate[];
}

export interface DrillStarted {
  dry_run: false;
  drill_id: string;
  issuer_id: string;
  intermediate_ca_id: string | null;
  status: 'running' | 'completed';
  total: number;
  jobs_opened: number;
  /** ACME-client certificates whose ARI window the drill opened now (no Renewal job: their clients renew them). */
  ari_requested: number;
  revoke_old: boolean;
  /** Certificates the drill could not renew now (a renewal already in progress, say): counted as failed. */
  skipped: Array<{ certificate_id: string; error: string }>;
}

export interface DrillProgress {
  drill_id: string;
  issuer_id: string;
  intermediate_ca_id: string | null;
  reason: string;
  revocation_reason: string;
  status: 'running' | 'completed';
  revoke_old: boolean;
  total: number;
  ari_requested: number;
  issued: number;
  deployed: number;
  verified: number;
  revoked: number;
  failed: number;
  /** Deployed, but no post-deploy TLS check proved the new certificate is served: the old serial is left unrevoked. */
  unverified: number;
  requested_by: string;
  created_at: Date;
  completed_at: Date | null;
  /** Up to 100 certificates that failed or stayed unverified, with why. */
  problems: Array<{ certificate_id: string; state: string; error: string | null }>;
}

/**
 * Mass re-issue drills (POST /issuers/{id}/reissue): one Renewal job per active certificate of the CA, through the
 * ordinary pipeline (issuance, then a Deployment job per target, agents and connectors alike). The orchestrator's
 * `reissue.advance` tick follows each certificate and revokes its old serials only once the new one is served.
 */
@Injectable()
export class ReissueService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly renewals: RenewalJobs,
    private readonly producer: JobProducer,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async start(actor: Principal, caId: string, body: ReissueDrillDto, correlationId: string): Promise<DryRunResult | DrillStarted> {
    const scope = await this.scopeOf(caId);
    const revokeOld = body.revoke_old ?? true;
    if (body.dry_run) {
      const rows = await this.affected(this.dataSource.manager, scope, false);
      const plain = ({ source: _source, ...c }: AffectedRow): AffectedCertificate => c;
      return {
        dry_run: true, issuer_id: scope.issuerId, intermediate_ca_id: scope.intermediateId, total: rows.length,
        certificates: rows.filter((c) => c.source !== RENEWED_BY_CLIENT).map(plain),
        renewed_by_acme_clients: rows.filter((c) => c.source === RENEWED_BY_CLIENT).map(plain),
      };
    }
    const revocationReason: RevocationReason = body.revocation_reason ?? (isRevocationReason(body.reason) ? body.reason : 'superseded');
    const toQueue: Array<{ id: string; type: 'Issuance' | 'Renewal'; max_attempts: number }> = [];
    const started = await this.dataSource.transaction(async (tx) => {
      const affected = await this.affected(tx, scope, true);
      const ids = affected.map((c) => c.certificate_id);
      const ariIds = affected.filter((c) => c.source === RENEWED_BY_CLIENT).map((c) => c.certificate_id);
      const serverIds = affected.filter((c) => c.source !== RENEWED_BY_CLIENT).map((c) => c.certificate_id);
      const outcomes = await this.renewals.open(tx, actor, serverIds, { force: false, bulk: true });
      // The renew-now mark on each ACME certificate's newest version: its ARI window opens at once (renewal-info).
      if (ariIds.length) {
        await tx.query(
          `UPDATE certificate_versions v SET renewal_requested_at = COALESCE(v.renewal_requested_at, now())
            WHERE v.id IN (SELECT DISTINCT ON (x.certificate_id) x.id FROM certificate_versions x WHERE x.certificate_id = ANY($1::text[])
                            ORDER BY x.certificate_id, x.created_at DESC, x.id DESC)`,
          [ariIds],
        );
      }
      const drillId = newId('reissueDrill');
      const jobOf = new Map(outcomes.filter((o) => o.job).map((o) => [o.certificate_id, o.job!]));
      const skipped = outcomes.filter((o) => !o.job).map((o) => ({
        certificate_id: o.certificate_id,
        error: o.result === 'in_progress' ? `a renewal is already in progress (${o.open_jobs.map((j) => j.id).join(', ')})` : `not renewable (${o.certificate_status})`,
      }));
      const status = jobOf.size || ariIds.length ? 'running' : 'completed';
      await tx.query(
        `INSERT INTO reissue_drills (id, issuer_id, intermediate_ca_id, reason, revocation_reason, status, total, requested_by, correlation_id, completed_at, revoke_old)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $6 = 'completed' THEN now() END, $10)`,
        [drillId, scope.issuerId, scope.intermediateId, body.reason, revocationReason, status, ids.length, actor.actor, correlationId, revokeOld],
      );
      // Each item keeps the serials it replaces: every unexpired version not yet revoked, read under the row locks.
      await tx.query(
        `INSERT INTO reissue_drill_items (drill_id, certificate_id, renewal_job_id, state, error, via_ari, old_serials)
         SELECT $1, i.certificate_id, i.job_id, CASE WHEN i.job_id IS NULL AND NOT i.certificate_id = ANY($6::text[]) THEN 'failed' ELSE 'pending' END,
                i.error, i.certificate_id = ANY($6::text[]),
                COALESCE((SELECT array_agg(v.serial_number ORDER BY v.created_at) FROM certificate_versions v
                           WHERE v.certificate_id = i.certificate_id AND v.not_after > now()
                             AND NOT EXISTS (SELECT 1 FROM certificate_revocations r WHERE r.issuer_id = $2 AND r.serial_number = v.serial_number)), '{}')
           FROM unnest($3::text[], $4::text[], $5::text[]) AS i(certificate_id, job_id, error)`,
        [
          drillId, scope.issuerId, ids, ids.map((id) => jobOf.get(id)?.id ?? null),
          ids.map((id) => skipped.find((s) => s.certificate_id === id)?.error ?? null), ariIds,
        ],
      );
      await this.audit.record({
        actor, action: 'reissue_drill_started', resource_type: 'issuer', resource_id: scope.issuerId,
        details: {
          drill_id: drillId, reason: body.reason, revocation_reason: revocationReason, intermediate_ca_id: scope.intermediateId,
          total: ids.length, jobs_opened: jobOf.size, ari_requested: ariIds.length, revoke_old: revokeOld, skipped: skipped.length,
        },
      }, tx);
      for (const job of jobOf.values()) if (job.status === 'Pending') toQueue.push(job);
      return { drillId, status, total: ids.length, jobsOpened: jobOf.size, ariRequested: ariIds.length, skipped } as const;
    });
    await this.enqueue(toQueue, correlationId);
    return {
      dry_run: false, drill_id: started.drillId, issuer_id: scope.issuerId, intermediate_ca_id: scope.intermediateId, status: started.status,
      total: started.total, jobs_opened: started.jobsOpened, ari_requested: started.ariRequested, revoke_old: revokeOld, skipped: started.skipped,
    };
  }

  async progress(caId: string, drillId: string): Promise<DrillProgress> {
    const [drill]: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT d.id, d.issuer_id, d.intermediate_ca_id, d.reason, d.revocation_reason, d.status, d.revoke_old, d.total, d.requested_by, d.created_at, d.completed_at,
              count(i.*) FILTER (WHERE i.via_ari)::int AS ari_requested,
              count(i.*) FILTER (WHERE i.issued_at IS NOT NULL)::int AS issued,
              count(i.*) FILTER (WHERE i.deployed_at IS NOT NULL)::int AS deployed,
              count(i.*) FILTER (WHERE i.verified_at IS NOT NULL)::int AS verified,
              count(i.*) FILTER (WHERE i.revoked_at IS NOT NULL)::int AS revoked,
              count(i.*) FILTER (WHERE i.state = 'failed')::int AS failed,
              count(i.*) FILTER (WHERE i.state = 'unverified')::int AS unverified
         FROM reissue_drills d LEFT JOIN reissue_drill_items i ON i.drill_id = d.id
        WHERE d.id = $1 AND (d.issuer_id = $2 OR d.intermediate_ca_id = $2)
        GROUP BY d.id`,
      [drillId, caId],
    );
    if (!drill) {
      await this.scopeOf(caId); // an unknown CA is named first
      throw ApiError.notFound('reissue drill', drillId);
    }
    const problems: DrillProgress['problems'] = await this.dataSource.query(
      `SELECT certificate_id, state, error FROM reissue_drill_items WHERE drill_id = $1 AND state IN ('failed', 'unverified')
        ORDER BY certificate_id LIMIT 100`,
      [drillId],
    );
    const { id, ...rest } = drill;
    return { drill_id: id, ...rest, problems } as unknown as DrillProgress;
  }

  private async scopeOf(caId: string): Promise<Scope> {
    const [issuer] = await this.dataSource.query<Array<{ id: string }>>('SELECT id FROM issuers WHERE id = $1', [caId]);
    if (issuer) return { issuerId: issuer.id, intermediateId: null, intermediateBody: null };
    const [ica] = await this.dataSource.query<Array<{ id: string; owning_issuer_id: string; cert_pem: string }>>(
      'SELECT id, owning_issuer_id, cert_pem FROM intermediate_cas WHERE id = $1', [caId],
    );
    if (!ica) throw ApiError.notFound('issuer', caId);
    const body = ica.cert_pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    return { issuerId: ica.owning_issuer_id, intermediateId: ica.id, intermediateBody: body };
  }

  /**
   * The active certificates of the CA, whose newest version is still valid (an intermediate's: whose newest chain
   * holds that intermediate). With `lock`, their rows are locked in id order, as RenewalJobs requires.
   */
  private affected(tx: EntityManager, scope: Scope, lock: boolean): Promise<AffectedRow[]> {
    return tx.query(
      `SELECT c.id AS certificate_id, c.name, c.common_name, nv.serial_number, nv.not_after, c.source
         FROM managed_certificates c
         JOIN LATERAL (SELECT v.serial_number, v.not_after, v.pem_chain FROM certificate_versions v WHERE v.certificate_id = c.id
                        ORDER BY v.created_at DESC, v.id DESC LIMIT 1) nv ON true
        WHERE c.issuer_id = $1 AND c.status IN ('Active', 'Expiring') AND nv.not_after > now()
          AND ($2::text IS NULL OR strpos(regexp_replace(nv.pem_chain, '\\s', '', 'g'), $2) > 0)
        ORDER BY c.id ${lock ? 'FOR UPDATE OF c' : ''}`,
      [scope.issuerId, scope.intermediateBody],
    );
  }

  /** After commit, like any renew: a queue job whose row is not visible yet would find nothing to run. */
  private async enqueue(jobs: Array<{ id: string; type: 'Issuance' | 'Renewal'; max_attempts: number }>, correlationId: string): Promise<void> {
    const queue = this.producer.queue(Queue.Issuance);
    for (let i = 0; i < jobs.length; i += 500) {
      await queue.addBulk(jobs.slice(i, i + 500).map((job) => {
        const name = job.type === 'Issuance' ? 'certificate.issue' as const : 'certificate.renew' as const;
        return {
          name,
          data: { jobId: job.id, correlationId },
          opts: { ...DEFAULT_JOB_OPTIONS[Queue.Issuance], ...issuanceJobOptions(this.config, job), jobId: queueJobId(name, job.id) },
        };
      }));
    }
  }
}

