import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditEventEntity, DiscoveryScanEntity } from '../entities';
import { newId } from '../ids';
import { enqueueNotifications, recordNotifications } from '../notifications';
import { JobProducer } from '../queues.module';
import type { DiscoveredCertificateInput } from './describe';

/** The sentinel agent that network-scan results are recorded under (certctl's pattern). */
export const SERVER_SCANNER_AGENT_ID = 'server-scanner';
/** A newly discovered certificate expiring within this many days raises an alert. */
export const DISCOVERY_ALERT_DAYS = 14;

export interface IngestResult {
  /** Distinct certificates in the batch. */
  found: number;
  /** Of those, rows that did not exist before. */
  created: number;
}

export interface AgentReport {
  directories: string[];
  certificates: DiscoveredCertificateInput[];
  errors: string[];
  scan_duration_ms?: number;
}

const COLUMNS = [
  'id', 'fingerprint_sha256', 'common_name', 'sans', 'serial_number', 'issuer_dn', 'subject_dn', 'not_before', 'not_after',
  'key_algorithm', 'key_size', 'is_ca', 'pem_data', 'pem_chain', 'chain_length', 'source_path', 'source_format', 'agent_id',
  'discovery_scan_id', 'managed_certificate_id', 'mismatched_certificate_id', 'status',
] as const;
const BATCH = 500;

/**
 * The one discovery pipeline, shared by the network scanner and agents' filesystem reports: upsert on
 * (fingerprint, agent, source_path) with first/last seen; new rows are `Unmanaged` unless the fingerprint is a
 * version of a managed certificate (then linked and `Managed`); a certificate served where a managed one was
 * seen before, or carrying a managed certificate's name without being one of its versions, is flagged with
 * `mismatched_certificate_id`; a new certificate expiring within 14 days raises an ExpirationWarning.
 */
@Injectable()
export class DiscoveryPipeline {
  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly producer: JobProducer) {}

  /** Records a batch found by scan `scanId` under `agentId`; alerts are enqueued after the commit. */
  async ingest(scanId: string, agentId: string, items: DiscoveredCertificateInput[], correlationId?: string): Promise<IngestResult> {
    const unique = new Map(items.map((i) => [`${i.fingerprint_sha256}|${i.source_path}`, i]));
    if (!unique.size) return { found: 0, created: 0 };
    const alerts: string[] = [];
    let created = 0;
    await this.dataSource.transaction(async (tx) => {
      const rows = [...unique.values()];
      for (let i = 0; i < rows.length; i += BATCH) {
        const inserted = await this.upsert(tx, scanId, agentId, rows.slice(i, i + BATCH));
        created += inserted.length;
        for (const row of inserted) {
          if (!row.not_after || new Date(row.not_after).getTime() > Date.now() + DISCOVERY_ALERT_DAYS * 86_400_000) continue;
          const expired = new Date(row.not_after).getTime() <= Date.now();
          alerts.push(...await recordNotifications(tx, {
            type: 'ExpirationWarning',
            certificate_id: row.managed_certificate_id,
            threshold_days: DISCOVERY_ALERT_DAYS,
            message: `Discovered certificate ${row.common_name || row.fingerprint_sha256.slice(0, 16)} at ${row.source_path} ` +
              `${expired ? 'expired' : 'expires'} on ${new Date(row.not_after).toISOString()}`,
          }));
        }
      }
      if (created) await tx.query(`UPDATE discovery_scans SET certificates_new = certificates_new + $2, updated_at = now() WHERE id = $1`, [scanId, created]);
    });
    if (alerts.length) await enqueueNotifications(this.producer, alerts, correlationId);
    return { found: unique.size, created };
  }

  /**
   * An agent's filesystem report: a `discovery_scans` row (Completed at once), the certificates through
   * `ingest`, and the audit event, as upstream's ProcessDiscoveryReport.
   */
  async recordAgentReport(agentId: string, report: AgentReport, correlationId?: string): Promise<DiscoveryScanEntity> {
    const scanId = newId('discoveryScan');
    const now = new Date();
    await this.dataSource.manager.insert(DiscoveryScanEntity, {
      id: scanId, agent_id: agentId, source: 'agent', status: 'Running', directories: report.directories,
      started_at: new Date(now.getTime() - (report.scan_duration_ms ?? 0)), errors_count: report.errors.length,
      error_summary: report.errors.length ? { agent: report.errors.length } : {}, last_error: report.errors.at(-1) ?? null,
    });
    const result = await this.ingest(scanId, agentId, report.certificates, correlationId);
    await this.dataSource.transaction(async (tx) => {
      await tx.update(DiscoveryScanEntity, { id: scanId }, {
        status: 'Completed', certificates_found: result.found, completed_at: new Date(), scan_duration_ms: report.scan_duration_ms ?? 0,
      });
      await this.audit(tx, agentId, 'Agent', scanId, { agent_id: agentId, certificates_found: result.found, certificates_new: result.created, errors: report.errors.length });
    });
    return (await this.dataSource.manager.findOneBy(DiscoveryScanEntity, { id: scanId }))!;
  }

  /** `discovery_scan_completed` in the audit trail (the database chains it). */
  async audit(tx: EntityManager, actor: string, actorType: 'Agent' | 'System', scanId: string, details: Record<string, unknown>): Promise<void> {
    await tx.insert(AuditEventEntity, {
      id: newId('audit'), actor, actor_type: actorType, action: 'discovery_scan_completed', resource_type: 'discovery_scans',
      resource_id: scanId, event_category: 'cert_lifecycle', details: details as never,
    });
  }

  private async upsert(tx: EntityManager, scanId: string, agentId: string, items: DiscoveredCertificateInput[]) {
    const fingerprints = items.map((i) => i.fingerprint_sha256);
    const versions: Array<{ fingerprint_sha256: string; certificate_id: string }> = await tx.query(
      `SELECT fingerprint_sha256, certificate_id FROM certificate_versions WHERE fingerprint_sha256 = ANY($1)`, [fingerprints]);
    const managedBy = new Map(versions.map((v) => [v.fingerprint_sha256, v.certificate_id]));
    // What each endpoint served before, when that was a managed certificate.
    const previous: Array<{ source_path: string; fingerprint_sha256: string; managed_certificate_id: string }> = await tx.query(
      `SELECT source_path, fingerprint_sha256, managed_certificate_id FROM discovered_certificates
        WHERE agent_id = $1 AND source_path = ANY($2) AND managed_certificate_id IS NOT NULL ORDER BY last_seen_at DESC`,
      [agentId, [...new Set(items.map((i) => i.source_path))]]);
    const names = [...new Set(items.flatMap((i) => [i.common_name, ...i.sans]).filter(Boolean).map((n) => n.toLowerCase()))];
    const namedManaged: Array<{ id: string; names: string[] }> = names.length ? await tx.query(
      `SELECT mc.id, array_append(mc.sans, mc.common_name) AS names FROM managed_certificates mc
        WHERE mc.status NOT IN ('Archived', 'Revoked', 'Pending')
          AND (lower(mc.common_name) = ANY($1) OR mc.sans && $1::text[])
          AND EXISTS (SELECT 1 FROM certificate_versions v WHERE v.certificate_id = mc.id)`, [names]) : [];

    const params: unknown[] = [];
    const tuples = items.map((item) => {
      const managed = managedBy.get(item.fingerprint_sha256) ?? null;
      let mismatch: string | null = null;
      if (!managed) {
        const itemNames = new Set([item.common_name, ...item.sans].map((n) => n.toLowerCase()));
        mismatch = previous.find((p) => p.source_path === item.source_path && p.fingerprint_sha256 !== item.fingerprint_sha256)?.managed_certificate_id
          ?? namedManaged.find((m) => m.names.some((n) => itemNames.has(n.toLowerCase())))?.id ?? null;
      }
      const row: Record<(typeof COLUMNS)[number], unknown> = {
        ...item, id: newId('discoveredCertificate'), agent_id: agentId, discovery_scan_id: scanId,
        managed_certificate_id: managed, mismatched_certificate_id: mismatch, status: managed ? 'Managed' : 'Unmanaged',
      };
      return `(${COLUMNS.map((c) => { params.push(row[c]); return `$${params.length}`; }).join(', ')})`;
    });
    const result: Array<{ inserted: boolean; not_after: Date | null; common_name: string; source_path: string; fingerprint_sha256: string; managed_certificate_id: string | null }> = await tx.query(
      `INSERT INTO discovered_certificates (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}
       ON CONFLICT (fingerprint_sha256, agent_id, source_path) DO UPDATE SET
         last_seen_at = now(), updated_at = now(), discovery_scan_id = EXCLUDED.discovery_scan_id,
         pem_chain = EXCLUDED.pem_chain, chain_length = EXCLUDED.chain_length,
         managed_certificate_id = COALESCE(discovered_certificates.managed_certificate_id, EXCLUDED.managed_certificate_id),
         status = CASE WHEN discovered_certificates.status = 'Unmanaged' AND EXCLUDED.managed_certificate_id IS NOT NULL
                       THEN 'Managed' ELSE discovered_certificates.status END,
         mismatched_certificate_id = CASE WHEN COALESCE(discovered_certificates.managed_certificate_id, EXCLUDED.managed_certificate_id) IS NOT NULL
                       THEN NULL ELSE EXCLUDED.mismatched_certificate_id END
       RETURNING (xmax = 0) AS inserted, not_after, common_name, source_path, fingerprint_sha256, managed_certificate_id`,
      params);
    return result.filter((r) => r.inserted);
  }
}

/** What a network scan copies from its target when it starts (later edits of the target do not change it). */
export interface ScanTargetSnapshot {
  id: string;
  cidrs: string[];
  ports: number[];
  sni_hostnames: string[];
  timeout_ms: number;
  rate_limit_per_second: number | null;
}

/**
 * Inserts a Pending network scan of `target` unless one of its scans is still Pending or Running (the
 * partial unique index decides, so two callers cannot both win), and moves the target's next scheduled scan
 * one interval on. Returns false when the target is already being scanned. The caller enqueues
 * `network-scan.run` after its transaction commits.
 */
export async function insertNetworkScan(tx: EntityManager, scanId: string, target: ScanTargetSnapshot): Promise<boolean> {
  const inserted: unknown[] = await tx.query(
    `INSERT INTO discovery_scans (id, agent_id, network_scan_target_id, source, status, directories, ports, sni_hostnames, timeout_ms, rate_limit_per_second)
     VALUES ($1, $2, $3, 'network', 'Pending', $4, $5, $6, $7, $8)
     ON CONFLICT (network_scan_target_id) WHERE status IN ('Pending', 'Running') DO NOTHING RETURNING id`,
    [scanId, SERVER_SCANNER_AGENT_ID, target.id, target.cidrs, target.ports, target.sni_hostnames, target.timeout_ms, target.rate_limit_per_second ?? 0]);
  await tx.query(`UPDATE network_scan_targets SET next_scan_at = now() + make_interval(hours => scan_interval_hours) WHERE id = $1`, [target.id]);
  return inserted.length > 0;
}
