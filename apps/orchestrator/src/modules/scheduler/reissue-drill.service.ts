import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { DEFAULT_JOB_OPTIONS, Queue, queueJobId } from '@certctl/contracts';
import { JobProducer, newId, REVOKE_AT_CA_JOB_OPTIONS } from '@certctl/db';
import { CRL_CAPABLE_ISSUER_TYPES, CrlService, OcspService } from '@certctl/issuers';

/** States in which an item still has something ahead of it. */
const OPEN_STATES = ['pending', 'issued', 'deployed', 'verified'];
/** Items moved on per statement, so one tick of a 10,000-certificate drill stays a few short transactions. */
const BATCH = 1000;

interface Revoked {
  drill_id: string;
  certificate_id: string;
  issuer_id: string;
  issuer_type: string;
  serials: string[];
  new_serial: string;
  new_version_id: string | null;
  verified: boolean;
  via_ari: boolean;
}

/**
 * `reissue.advance`: moves every running mass re-issue drill on, set-based, so it is idempotent and safe to run
 * again after a crash (each step is a state change guarded by the state it leaves):
 * 1. pending → issued once the renewal job stored its version (failed if the job failed or was cancelled);
 * 2. issued → verified when every Deployment job of the new version completed and its post-deploy TLS check saw
 *    the new certificate served (a certificate without targets: at once); failed when a deployment failed;
 *    unverified when all completed but some target has no TLS check, so nothing proves the new one is served;
 * 3. verified → revoked: the old serials go into certificate_revocations (CRL and OCSP of a Local CA at once, an
 *    ACME CA told by the `certificate.revoke` job), with the drill's reason, and an audit row per certificate;
 * 4. a drill with nothing open is completed, with its audit row.
 * A certificate whose key lives with an ACME client (`via_ari`) has no Renewal job: the drill opened its ARI window,
 * and it is issued once the client's renewal order (`replaces` naming it, or failing that an order of the same
 * account for the same names placed after the drill began) holds a certificate, verified once the client downloaded
 * that certificate, then revoked like the others (the old managed certificate turns Revoked when the renewal made
 * its own, i.e. with `replaces`; a renewal without it is a new version of the same certificate). A drill with `revoke_old` false (a plain "renew early") stops at verified.
 */
@Injectable()
export class ReissueDrillService {
  private readonly logger = new Logger(ReissueDrillService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crl: CrlService,
    private readonly ocsp: OcspService,
    private readonly producer: JobProducer,
  ) {}

  async advance(): Promise<{ issued: number; verified: number; revoked: number; completed: number }> {
    const running: Array<{ id: string }> = await this.dataSource.query(`SELECT id FROM reissue_drills WHERE status = 'running'`);
    if (!running.length) return { issued: 0, verified: 0, revoked: 0, completed: 0 };
    const drillIds = running.map((d) => d.id);
    const issued = (await this.markIssued(drillIds)) + (await this.markRenewedByClient(drillIds));
    const verified = (await this.markDeployed(drillIds)) + (await this.markDownloaded(drillIds));
    let revoked = 0;
    for (;;) {
      const batch = await this.revokeVerified(drillIds);
      revoked += batch;
      if (batch < BATCH) break;
    }
    const completed = await this.complete(drillIds);
    return { issued, verified, revoked, completed };
  }

  /** Step 1. */
  private async markIssued(drillIds: string[]): Promise<number> {
    const rows: Array<{ drill_id: string; certificate_id: string; state: string; error: string | null }> = await this.dataSource.transaction(async (tx) => {
      const [updated] = await tx.query(
        `UPDATE reissue_drill_items i
            SET state = CASE WHEN v.id IS NOT NULL THEN 'issued' ELSE 'failed' END,
                new_version_id = v.id, new_serial = v.serial_number, issued_at = CASE WHEN v.id IS NOT NULL THEN now() END,
                error = CASE WHEN v.id IS NULL THEN left('renewal ' || lower(j.status) || COALESCE(': ' || j.last_error, ''), 2000) END,
                updated_at = now()
           FROM jobs j LEFT JOIN certificate_versions v ON v.job_id = j.id
          WHERE i.drill_id = ANY($1::text[]) AND i.state = 'pending' AND j.id = i.renewal_job_id
            AND (v.id IS NOT NULL OR j.status IN ('Failed', 'Cancelled'))
         RETURNING i.drill_id, i.certificate_id, i.state, i.error`,
        [drillIds],
      );
      await this.auditFailures(tx, updated);
      return updated;
    });
    return rows.filter((r) => r.state === 'issued').length;
  }

  /** Step 2: the Deployment jobs of the new version are those the issuance created with it (same transaction, so created_at ≥ it). */
  private async markDeployed(drillIds: string[]): Promise<number> {
    return this.dataSource.transaction(async (tx) => {
      const [updated]: [Array<{ drill_id: string; certificate_id: string; state: string; error: string | null }>, number] = await tx.query(
        `WITH d AS (
           SELECT i.drill_id, i.certificate_id,
                  count(dj.id) AS deployments,
                  count(dj.id) FILTER (WHERE dj.status = 'Completed') AS completed,
                  count(dj.id) FILTER (WHERE dj.status = 'Completed' AND dj.verification_status = 'success') AS verified,
                  count(dj.id) FILTER (WHERE dj.status IN ('Failed', 'Cancelled')) AS failed,
                  string_agg(COALESCE(t.name, dj.target_id) || ': ' || COALESCE(dj.last_error, lower(dj.status)), '; ')
                    FILTER (WHERE dj.status IN ('Failed', 'Cancelled')) AS failures,
                  string_agg(COALESCE(t.name, dj.target_id), ', ')
                    FILTER (WHERE dj.status = 'Completed' AND dj.verification_status IS DISTINCT FROM 'success') AS unproven,
                  -- Mapped targets that got no deployment (disabled) may still serve the old certificate.
                  (SELECT count(*) FROM certificate_target_mappings m JOIN deployment_targets mt ON mt.id = m.target_id AND mt.retired_at IS NULL
                    WHERE m.certificate_id = i.certificate_id) AS mapped
             FROM reissue_drill_items i
             JOIN certificate_versions v ON v.id = i.new_version_id
             LEFT JOIN jobs dj ON dj.certificate_id = i.certificate_id AND dj.type = 'Deployment' AND dj.created_at >= v.created_at
             LEFT JOIN deployment_targets t ON t.id = dj.target_id
            WHERE i.drill_id = ANY($1::text[]) AND i.state IN ('issued', 'deployed') AND NOT i.via_ari
            GROUP BY i.drill_id, i.certificate_id
         )
         UPDATE reissue_drill_items i
            SET state = CASE WHEN d.failed > 0 THEN 'failed'
                             WHEN d.deployments = 0 AND d.mapped = 0 THEN 'verified'
                             WHEN d.deployments > 0 AND d.verified = d.deployments THEN 'verified'
                             ELSE 'unverified' END,
                deployed_at = CASE WHEN d.failed = 0 AND d.deployments > 0 THEN now() END,
                verified_at = CASE WHEN d.failed = 0 AND d.deployments > 0 AND d.verified = d.deployments THEN now() END,
                error = CASE WHEN d.failed > 0 THEN left('deployment failed: ' || d.failures, 2000)
                             WHEN d.deployments = 0 AND d.mapped > 0
                               THEN d.mapped || ' mapped target(s) got no deployment (disabled?) and may still serve the old certificate; old serials kept'
                             WHEN d.deployments > 0 AND d.verified < d.deployments
                               THEN left('deployed, but no post-deploy TLS check proved it is served on: ' || d.unproven || '; old serials kept', 2000) END,
                updated_at = now()
           FROM d
          WHERE i.drill_id = d.drill_id AND i.certificate_id = d.certificate_id
            AND (d.failed > 0 OR d.completed = d.deployments)
         RETURNING i.drill_id, i.certificate_id, i.state, i.error`,
        [drillIds],
      );
      await this.auditFailures(tx, updated);
      return updated.filter((r) => r.state === 'verified').length;
    });
  }

  /**
   * Step 1 of an ACME-client certificate: its client's renewal order holds a certificate (issued); its old version
   * expired with no renewal (failed).
   */
  private async markRenewedByClient(drillIds: string[]): Promise<number> {
    return this.dataSource.transaction(async (tx) => {
      const [updated]: [Array<{ drill_id: string; certificate_id: string; state: string; error: string | null }>, number] = await tx.query(
        `WITH item AS (
           SELECT i.drill_id, i.certificate_id, d.created_at AS drill_started, oc.sans, first_order.account_id, i.old_serials,
                  (SELECT max(v.not_after) FROM certificate_versions v WHERE v.certificate_id = i.certificate_id) AS old_not_after
             FROM reissue_drill_items i
             JOIN reissue_drills d ON d.id = i.drill_id
             JOIN managed_certificates oc ON oc.id = i.certificate_id
             LEFT JOIN LATERAL (SELECT o.account_id FROM acme_orders o WHERE o.certificate_id = i.certificate_id LIMIT 1) first_order ON true
            WHERE i.drill_id = ANY($1::text[]) AND i.via_ari AND i.state = 'pending'
         ), renewal AS (
           SELECT DISTINCT ON (item.drill_id, item.certificate_id) item.drill_id, item.certificate_id, nv.id AS version_id, nv.serial_number
             FROM item
             JOIN acme_orders o ON o.certificate_version_id IS NOT NULL
              AND (o.replaces_version_id IN (SELECT v.id FROM certificate_versions v WHERE v.certificate_id = item.certificate_id)
                   OR (o.replaces_version_id IS NULL AND o.account_id = item.account_id AND o.created_at >= item.drill_started
                       AND (SELECT array_agg(x ORDER BY x) FROM managed_certificates nc, unnest(nc.sans) x WHERE nc.id = o.certificate_id)
                         = (SELECT array_agg(x ORDER BY x) FROM unnest(item.sans) x)))
             JOIN certificate_versions nv ON nv.id = o.certificate_version_id
            -- A renewal without replaces may be a new version of the same certificate: any version the drill did not start with.
            WHERE NOT (nv.serial_number = ANY(item.old_serials))
            ORDER BY item.drill_id, item.certificate_id, (o.replaces_version_id IS NOT NULL) DESC, o.created_at
         ), outcome AS (
           SELECT item.drill_id, item.certificate_id, r.version_id, r.serial_number, item.old_not_after
             FROM item LEFT JOIN renewal r ON r.drill_id = item.drill_id AND r.certificate_id = item.certificate_id
            WHERE r.version_id IS NOT NULL OR item.old_not_after <= now()
         )
         UPDATE reissue_drill_items i
            SET state = CASE WHEN o.version_id IS NOT NULL THEN 'issued' ELSE 'failed' END,
                new_version_id = o.version_id, new_serial = o.serial_number, issued_at = CASE WHEN o.version_id IS NOT NULL THEN now() END,
                error = CASE WHEN o.version_id IS NULL THEN 'its ACME client did not renew it (ARI window opened by the drill) before it expired' END,
                updated_at = now()
           FROM outcome o
          WHERE i.drill_id = o.drill_id AND i.certificate_id = o.certificate_id AND i.state = 'pending'
         RETURNING i.drill_id, i.certificate_id, i.state, i.error`,
        [drillIds],
      );
      await this.auditFailures(tx, updated);
      return updated.filter((r) => r.state === 'issued').length;
    });
  }

  /**
   * Step 2 of an ACME-client certificate: the server deploys nothing, so the proof that the new certificate is in
   * use is that its client downloaded it (the ACME \`certificate\` request); only then may the old serial go.
   */
  private async markDownloaded(drillIds: string[]): Promise<number> {
    const [, count]: [unknown, number] = await this.dataSource.query(
      `UPDATE reissue_drill_items i SET state = 'verified', deployed_at = o.downloaded_at, verified_at = now(), updated_at = now()
         FROM acme_orders o
        WHERE i.drill_id = ANY($1::text[]) AND i.via_ari AND i.state = 'issued'
          AND o.certificate_version_id = i.new_version_id AND o.downloaded_at IS NOT NULL`,
      [drillIds],
    );
    return count;
  }

  /** Step 3, for up to BATCH items; then the issuers' OCSP answers, CRLs, or the CA itself, are told. */
  private async revokeVerified(drillIds: string[]): Promise<number> {
    const revoked: Revoked[] = await this.dataSource.transaction(async (tx) => {
      const [items]: [Revoked[], number] = await tx.query(
        `WITH picked AS (
           SELECT i.drill_id, i.certificate_id FROM reissue_drill_items i
             JOIN reissue_drills rd ON rd.id = i.drill_id AND rd.revoke_old
            WHERE i.drill_id = ANY($1::text[]) AND i.state = 'verified'
            ORDER BY i.drill_id, i.certificate_id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED
         )
         UPDATE reissue_drill_items i SET state = 'revoked', revoked_at = now(), updated_at = now()
           FROM picked p, reissue_drills d, issuers s
          WHERE i.drill_id = p.drill_id AND i.certificate_id = p.certificate_id AND d.id = i.drill_id AND s.id = d.issuer_id
         RETURNING i.drill_id, i.certificate_id, d.issuer_id, s.type AS issuer_type,
                   ARRAY(SELECT x FROM unnest(i.old_serials) x WHERE x IS DISTINCT FROM i.new_serial) AS serials,
                   i.new_serial, i.new_version_id, i.verified_at IS NOT NULL AS verified, i.via_ari`,
        [drillIds],
      );
      if (!items.length) return [];
      await tx.query(
        `INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_number, reason, revoked_by, revoked_at, issuer_notified)
         SELECT 'rev-' || md5(random()::text || r.certificate_id || s.serial), r.certificate_id, d.issuer_id, s.serial, d.revocation_reason,
                'reissue-drill:' || d.id, now(), r.capable
           FROM jsonb_to_recordset($1::jsonb) AS r(drill_id text, certificate_id text, serials text[], capable boolean)
           JOIN reissue_drills d ON d.id = r.drill_id
           CROSS JOIN LATERAL unnest(r.serials) AS s(serial)
         ON CONFLICT (issuer_id, serial_number) DO NOTHING`,
        [JSON.stringify(items.map((r) => ({ ...r, capable: CRL_CAPABLE_ISSUER_TYPES.includes(r.issuer_type) })))],
      );
      // An ACME-client certificate renewed with `replaces` is another managed certificate: the old one, every serial
      // revoked, is Revoked. Renewed without it (same account and names), the new version is the same certificate's.
      const replacedByClient = items.filter((r) => r.via_ari);
      if (replacedByClient.length) {
        await tx.query(
          `UPDATE managed_certificates c SET status = 'Revoked', revoked_at = now(), revocation_reason = d.revocation_reason, updated_at = now()
             FROM jsonb_to_recordset($1::jsonb) AS r(drill_id text, certificate_id text, new_version_id text), reissue_drills d
            WHERE c.id = r.certificate_id AND d.id = r.drill_id AND c.status NOT IN ('Revoked', 'Archived')
              AND NOT EXISTS (SELECT 1 FROM certificate_versions v WHERE v.id = r.new_version_id AND v.certificate_id = c.id)`,
          [JSON.stringify(replacedByClient.map((r) => ({ drill_id: r.drill_id, certificate_id: r.certificate_id, new_version_id: r.new_version_id })))],
        );
      }
      await insertAudit(tx, items.map((r) => ({
        action: 'reissue_old_serials_revoked', resource_type: 'certificate', resource_id: r.certificate_id,
        details: { drill_id: r.drill_id, revoked_serials: r.serials, new_serial: r.new_serial, served_verified: r.verified },
      })));
      return items;
    });
    await this.afterRevocation(revoked);
    return revoked.length;
  }

  private async afterRevocation(revoked: Revoked[]): Promise<void> {
    const byIssuer = new Map<string, string[]>();
    const toTell: Revoked[] = [];
    for (const r of revoked) {
      if (!r.serials.length) continue;
      if (CRL_CAPABLE_ISSUER_TYPES.includes(r.issuer_type)) byIssuer.set(r.issuer_id, [...(byIssuer.get(r.issuer_id) ?? []), ...r.serials]);
      else toTell.push(r);
    }
    for (const [issuerId, serials] of byIssuer) {
      await this.ocsp.revoked(issuerId, serials);
      // A failed rebuild is logged; the crl.generate tick builds it again.
      await this.crl.generate(issuerId).catch((err: unknown) => this.logger.warn({ issuerId, err: (err as Error).message }, 'CRL rebuild after a re-issue drill revocation failed'));
    }
    if (toTell.length) {
      await this.producer.queue(Queue.Issuance).addBulk(toTell.map((r) => ({
        name: 'certificate.revoke' as const,
        data: { certificateId: r.certificate_id, correlationId: r.drill_id },
        opts: { ...DEFAULT_JOB_OPTIONS[Queue.Issuance], ...REVOKE_AT_CA_JOB_OPTIONS, jobId: queueJobId('certificate.revoke', `${r.certificate_id}_${r.drill_id}`) },
      })));
    }
  }

  /** Step 4. */
  private async complete(drillIds: string[]): Promise<number> {
    return this.dataSource.transaction(async (tx) => {
      const [done]: [Array<{ id: string; issuer_id: string; total: number; revoked: number; failed: number; unverified: number }>, number] = await tx.query(
        `UPDATE reissue_drills d SET status = 'completed', completed_at = now()
          WHERE d.id = ANY($1::text[]) AND d.status = 'running'
            -- A drill that revokes nothing ends with its items verified.
            AND NOT EXISTS (SELECT 1 FROM reissue_drill_items i WHERE i.drill_id = d.id AND i.state = ANY($2::text[])
                              AND (d.revoke_old OR i.state <> 'verified'))
         RETURNING d.id, d.issuer_id, d.total,
                   (SELECT count(*) FROM reissue_drill_items i WHERE i.drill_id = d.id AND i.state = 'revoked')::int AS revoked,
                   (SELECT count(*) FROM reissue_drill_items i WHERE i.drill_id = d.id AND i.state = 'failed')::int AS failed,
                   (SELECT count(*) FROM reissue_drill_items i WHERE i.drill_id = d.id AND i.state = 'unverified')::int AS unverified`,
        [drillIds, OPEN_STATES],
      );
      await insertAudit(tx, done.map((d) => ({
        action: 'reissue_drill_completed', resource_type: 'issuer', resource_id: d.issuer_id,
        details: { drill_id: d.id, total: d.total, revoked: d.revoked, failed: d.failed, unverified: d.unverified },
      })));
      for (const d of done) this.logger.log({ drillId: d.id, total: d.total, revoked: d.revoked, failed: d.failed, unverified: d.unverified }, 're-issue drill completed');
      return done.length;
    });
  }

  private auditFailures(tx: EntityManager, rows: Array<{ drill_id: string; certificate_id: string; state: string; error: string | null }>): Promise<void> {
    return insertAudit(tx, rows.filter((r) => r.state === 'failed' || r.state === 'unverified').map((r) => ({
      action: r.state === 'failed' ? 'reissue_certificate_failed' : 'reissue_certificate_unverified', resource_type: 'certificate',
      resource_id: r.certificate_id, details: { drill_id: r.drill_id, error: r.error },
    })));
  }
}

async function insertAudit(tx: EntityManager, rows: Array<{ action: string; resource_type: string; resource_id: string; details: Record<string, unknown> }>): Promise<void> {
  if (!rows.length) return;
  await tx.query(
    `INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
     SELECT a.id, 'orchestrator', 'System', a.action, a.resource_type, a.resource_id, 'cert_lifecycle', a.details
       FROM jsonb_to_recordset($1::jsonb) AS a(id text, action text, resource_type text, resource_id text, details jsonb)`,
    [JSON.stringify(rows.map((r) => ({ ...r, id: newId('audit') })))],
  );
}
