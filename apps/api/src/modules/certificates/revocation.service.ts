import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DEFAULT_JOB_OPTIONS, Queue, queueJobId } from '@certctl/contracts';
import { DataSource, EntityManager } from 'typeorm';
import { OPEN_JOB_STATUSES, enqueueNotifications, JobProducer, ManagedCertificateEntity, recordNotifications, REVOKE_AT_CA_JOB_OPTIONS } from '@certctl/db';
import { CRL_CAPABLE_ISSUER_TYPES, CrlService, OcspService } from '@certctl/issuers';
import type { RevocationReason } from '@certctl/pki';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { matchBulkCriteria } from './bulk-criteria';
import { checkCertificate } from './certificate-scope';
import { CertificatesRepository } from './certificates.repository';
import type { BulkRevokeDto } from './dto/certificate.dto';

export interface RevocationResult {
  status: 'revoked';
  certificate_id: string;
  revocation_reason: RevocationReason;
  revoked_at: Date;
  /** Serials of the unexpired versions now on the issuer's CRL and answered `revoked` by OCSP. */
  revoked_serials: string[];
  cancelled_job_ids: string[];
}

export interface BulkRevokeResult {
  total_matched: number;
  total_revoked: number;
  total_skipped: number;
  total_failed: number;
  errors: Array<{ certificate_id: string; error: string }>;
}

interface Revoked {
  certificateId: string;
  issuerId: string;
  /** The CA is another party (ACME…): the orchestrator must tell it. */
  tellIssuer: boolean;
  serials: string[];
  /** The CRL partitions the revoked serials are in (their CRLs are rebuilt with the issuer's full CRL). */
  crlShards: number[];
  cancelled: string[];
  revokedAt: Date;
  notificationIds: string[];
}

/**
 * Revocation (certctl §4.7): in one transaction every unexpired version's serial goes into
 * certificate_revocations, the certificate becomes Revoked, its open jobs are cancelled, and the audit event and
 * the Revocation notification are written. After commit: the notification is queued, the issuer's OCSP answers
 * are replaced and its CRL rebuilt. A revoked certificate is never renewed (RenewalJobs and the sweep skip it).
 */
@Injectable()
export class RevocationService {
  private readonly logger = new Logger(RevocationService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
    private readonly repository: CertificatesRepository,
    private readonly crl: CrlService,
    private readonly ocsp: OcspService,
  ) {}

  async revoke(actor: Principal, id: string, reason: RevocationReason, correlationId: string): Promise<RevocationResult> {
    const revoked = await this.dataSource.transaction(async (tx) => {
      const cert = await tx.findOne(ManagedCertificateEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!cert) throw ApiError.notFound('certificate', id);
      checkCertificate(actor, cert, 'cert.revoke');
      if (cert.status === 'Revoked') throw ApiError.conflict('CERTIFICATE_ALREADY_REVOKED', `certificate ${id} is already revoked`);
      if (cert.status === 'Archived') throw ApiError.conflict('CERTIFICATE_ARCHIVED', `certificate ${id} is archived and cannot be revoked`);
      return this.revokeLocked(tx, actor, cert, reason, false);
    });
    await this.afterCommit([revoked], correlationId);
    return {
      status: 'revoked', certificate_id: id, revocation_reason: reason, revoked_at: revoked.revokedAt,
      revoked_serials: revoked.serials, cancelled_job_ids: revoked.cancelled,
    };
  }

  /** Bulk revoke: the same per certificate; already revoked and archived ones are skipped. */
  async bulkRevoke(actor: Principal, body: BulkRevokeDto, correlationId: string): Promise<BulkRevokeResult> {
    const { reason = 'unspecified', ...criteria } = body;
    const result: BulkRevokeResult = { total_matched: 0, total_revoked: 0, total_skipped: 0, total_failed: 0, errors: [] };
    const revoked: Revoked[] = [];
    await this.dataSource.transaction(async (tx) => {
      const matched = await matchBulkCriteria(tx, criteria, actor, 'cert.bulk_revoke');
      result.total_matched = matched.ids.length;
      result.errors = matched.errors;
      result.total_failed = matched.errors.length;
      if (!matched.ids.length) return;
      const certs = await tx.getRepository(ManagedCertificateEntity).createQueryBuilder('c').where('c.id = ANY(:ids)', { ids: matched.ids }).orderBy('c.id').getMany();
      for (const cert of certs) {
        if (cert.status === 'Revoked' || cert.status === 'Archived') {
          result.total_skipped++;
          continue;
        }
        revoked.push(await this.revokeLocked(tx, actor, cert, reason as RevocationReason, true));
      }
      result.total_revoked = revoked.length;
    });
    await this.afterCommit(revoked, correlationId);
    return result;
  }

  private async revokeLocked(tx: EntityManager, actor: Principal, cert: ManagedCertificateEntity, reason: RevocationReason, bulk: boolean): Promise<Revoked> {
    const [{ now }] = await tx.query<Array<{ now: Date }>>('SELECT now() AS now');
    const [{ type: issuerType }] = await tx.query<Array<{ type: string }>>('SELECT type FROM issuers WHERE id = $1', [cert.issuer_id]);
    // The Local CA is this server: its CRL and OCSP are the notice. Other CAs are told by the orchestrator.
    const notified = CRL_CAPABLE_ISSUER_TYPES.includes(issuerType);
    const serials: Array<{ serial_number: string; crl_shard: number | null }> = await tx.query(
      `INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_number, reason, revoked_by, revoked_at, issuer_notified, crl_shard)
       SELECT 'rev-' || md5(random()::text || v.id), v.certificate_id, $2, v.serial_number, $3, $4, $5, $6, v.crl_shard
         FROM certificate_versions v
        WHERE v.certificate_id = $1 AND v.not_after > $5
       ON CONFLICT (issuer_id, serial_number) DO NOTHING
       RETURNING serial_number, crl_shard`,
      [cert.id, cert.issuer_id, reason, actor.actor, now, notified],
    );
    await tx.update(ManagedCertificateEntity, { id: cert.id }, { status: 'Revoked', revoked_at: now, revocation_reason: reason });
    // TypeORM answers an UPDATE … RETURNING with [rows, affected count].
    const [cancelled]: [Array<{ id: string }>, number] = await tx.query(
      `UPDATE jobs SET status = 'Cancelled', completed_at = now(), last_error = 'certificate revoked'
        WHERE certificate_id = $1 AND status = ANY($2) RETURNING id`,
      [cert.id, [...OPEN_JOB_STATUSES]],
    );
    const revokedSerials = serials.map((s) => s.serial_number);
    await this.audit.record(
      {
        actor, action: 'certificate_revoked', resource_type: 'certificate', resource_id: cert.id,
        details: { reason, previous_status: cert.status, serials: revokedSerials, cancelled_job_ids: cancelled.map((j) => j.id), ...(bulk ? { bulk: true } : {}) },
      },
      tx,
    );
    const notificationIds = await recordNotifications(tx, {
      type: 'Revocation', certificate_id: cert.id,
      message: `certificate ${cert.name} (${cert.common_name}) was revoked: ${reason}`,
    });
    return { certificateId: cert.id, issuerId: cert.issuer_id, tellIssuer: !notified && revokedSerials.length > 0, serials: revokedSerials,
      crlShards: serials.flatMap((s) => (s.crl_shard === null ? [] : [s.crl_shard])), cancelled: cancelled.map((j) => j.id), revokedAt: now, notificationIds };
  }

  /** Queues the notifications, replaces the issuers' OCSP answers and rebuilds their CRLs (once per issuer). */
  private async afterCommit(revoked: Revoked[], correlationId: string): Promise<void> {
    this.repository.invalidate();
    if (!revoked.length) return;
    await enqueueNotifications(this.producer, revoked.flatMap((r) => r.notificationIds), correlationId);
    // The CA is told by the orchestrator, retried with backoff until it answers (the row keeps why it has not).
    const toTell = revoked.filter((r) => r.tellIssuer);
    if (toTell.length) {
      await this.producer.queue(Queue.Issuance).addBulk(toTell.map((r) => ({
        name: 'certificate.revoke' as const,
        data: { certificateId: r.certificateId, correlationId },
        opts: { ...DEFAULT_JOB_OPTIONS[Queue.Issuance], ...REVOKE_AT_CA_JOB_OPTIONS, jobId: queueJobId('certificate.revoke', r.certificateId) },
      })));
    }
    const serialsByIssuer = new Map<string, string[]>();
    const shardsByIssuer = new Map<string, Set<number>>();
    for (const r of revoked) {
      serialsByIssuer.set(r.issuerId, [...(serialsByIssuer.get(r.issuerId) ?? []), ...r.serials]);
      shardsByIssuer.set(r.issuerId, new Set([...(shardsByIssuer.get(r.issuerId) ?? []), ...r.crlShards]));
    }
    for (const [issuerId, serials] of serialsByIssuer) {
      const capable: Array<{ type: string }> = await this.dataSource.query('SELECT type FROM issuers WHERE id = $1', [issuerId]);
      if (!CRL_CAPABLE_ISSUER_TYPES.includes(capable[0]?.type ?? '')) continue;
      await this.ocsp.revoked(issuerId, serials);
      // The CRL is rebuilt now rather than at the next tick; a failure is logged and counted, the tick retries.
      for (const shard of [undefined, ...(shardsByIssuer.get(issuerId) ?? [])]) {
        await this.crl.generate(issuerId, shard).catch((err: unknown) => this.logger.warn({ issuerId, shard, err: (err as Error).message }, 'CRL rebuild after revocation failed'));
      }
    }
  }
}

