import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  AgentEntity, describeDiscovered, DiscoveredCertificateEntity, DiscoveredCertificateInput, DiscoveryPipeline, DiscoveryScanEntity,
  pemBlocks,
} from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { applySort, CrudResource, escapeLike } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { certificateScopeSql } from '../certificates/certificate-scope';
import { Page, pageOf } from '../../common/http/pagination';
import { AgentDiscoveryReportDto, DiscoveredCertificateQuery } from './dto/discovery.dto';
import { presentScan, ScanView } from './discovery-scans.service';

/** certctl's flat counts by status (`Unmanaged`, `Managed`, `Dismissed`), then our own counters beside them. */
export interface DiscoverySummary {
  Unmanaged: number;
  Managed: number;
  Dismissed: number;
  total: number;
  unmanaged: number;
  managed: number;
  dismissed: number;
  /** Served where a managed certificate was expected (not dismissed). */
  mismatched: number;
  /** Not dismissed, expiring within 14 days (or already expired). */
  expiring_within_14_days: number;
  expired: number;
  scans_running: number;
  last_scan_completed_at?: string;
}

@Injectable()
export class DiscoveredCertificatesService {
  private readonly crud: CrudResource<DiscoveredCertificateEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly pipeline: DiscoveryPipeline,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: DiscoveredCertificateEntity, table: 'discovered_certificates', resource: 'discovered certificate', idKind: 'discoveredCertificate',
      category: 'cert_lifecycle', actions: { created: 'discovered_certificate_created', updated: 'discovered_certificate_updated', deleted: 'discovered_certificate_deleted' },
    });
  }

  async list(query: DiscoveredCertificateQuery): Promise<Page<DiscoveredCertificateEntity>> {
    const { page, perPage, offset } = pageOf(query);
    const qb = this.dataSource.createQueryBuilder(DiscoveredCertificateEntity, 'd');
    for (const column of ['status', 'agent_id', 'source_format', 'managed_certificate_id', 'discovery_scan_id'] as const) {
      if (query[column] !== undefined) qb.andWhere(`d.${column} = :${column}`, { [column]: query[column] });
    }
    if (query.issuer) qb.andWhere(`d.issuer_dn ILIKE :issuer`, { issuer: `%${escapeLike(query.issuer)}%` });
    if (query.source) qb.andWhere(`d.source_path ILIKE :source`, { source: `%${escapeLike(query.source)}%` });
    if (query.expires_before) qb.andWhere(`d.not_after < :before`, { before: query.expires_before });
    if (query.mismatched !== undefined) qb.andWhere(`d.mismatched_certificate_id IS ${query.mismatched === 'true' ? 'NOT ' : ''}NULL`);
    if (query.search) {
      qb.andWhere(`(d.common_name ILIKE :search OR d.subject_dn ILIKE :search OR d.issuer_dn ILIKE :search OR d.source_path ILIKE :search
        OR d.fingerprint_sha256 ILIKE :search OR array_to_string(d.sans, ' ') ILIKE :search)`, { search: `%${escapeLike(query.search)}%` });
    }
    applySort(qb, query, ['not_after', 'last_seen_at', 'first_seen_at', 'common_name', 'source_path', 'status']);
    const [data, total] = await qb.offset(offset).limit(perPage).getManyAndCount();
    return { data, total, page, per_page: perPage };
  }

  get(id: string): Promise<DiscoveredCertificateEntity> {
    return this.crud.get(id);
  }

  /** Links the certificate to a managed one (400 when that does not exist) and marks it Managed. */
  async claim(actor: Principal, id: string, managedCertificateId: string): Promise<DiscoveredCertificateEntity> {
    return this.dataSource.transaction(async (tx) => {
      await this.crud.lock(tx, id);
      // A scoped caller claims into a certificate it may edit; any other is reported as unknown, not revealed.
      const params: unknown[] = [managedCertificateId];
      const scope = certificateScopeSql(actor, 'cert.edit', params);
      const found: unknown[] = await tx.query(`SELECT 1 FROM managed_certificates WHERE id = $1 ${scope ? `AND ${scope}` : ''}`, params);
      if (!found.length) {
        throw ApiError.missingReference('managed_certificate_id', managedCertificateId);
      }
      await tx.update(DiscoveredCertificateEntity, { id }, {
        status: 'Managed', managed_certificate_id: managedCertificateId, mismatched_certificate_id: null, dismissed_at: null,
      });
      await this.audit.record({ actor, action: 'discovery_cert_claimed', resource_type: 'discovered_certificates', resource_id: id,
        details: { managed_certificate_id: managedCertificateId } }, tx);
      return this.crud.get(id, tx);
    });
  }

  async dismiss(actor: Principal, id: string): Promise<DiscoveredCertificateEntity> {
    return this.dataSource.transaction(async (tx) => {
      await this.crud.lock(tx, id);
      await tx.update(DiscoveredCertificateEntity, { id }, { status: 'Dismissed', dismissed_at: new Date() });
      await this.audit.record({ actor, action: 'discovery_cert_dismissed', resource_type: 'discovered_certificates', resource_id: id }, tx);
      return this.crud.get(id, tx);
    });
  }

  async summary(): Promise<DiscoverySummary> {
    const [row] = await this.dataSource.query(`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE status = 'Unmanaged')::int AS unmanaged,
             count(*) FILTER (WHERE status = 'Managed')::int AS managed,
             count(*) FILTER (WHERE status = 'Dismissed')::int AS dismissed,
             count(*) FILTER (WHERE status <> 'Dismissed' AND mismatched_certificate_id IS NOT NULL)::int AS mismatched,
             count(*) FILTER (WHERE status <> 'Dismissed' AND not_after < now() + interval '14 days')::int AS expiring,
             count(*) FILTER (WHERE status <> 'Dismissed' AND not_after < now())::int AS expired
        FROM discovered_certificates`);
    const [scans] = await this.dataSource.query(`
      SELECT count(*) FILTER (WHERE status IN ('Pending', 'Running'))::int AS running,
             max(completed_at) FILTER (WHERE status = 'Completed') AS last_completed
        FROM discovery_scans`);
    return {
      Unmanaged: row.unmanaged, Managed: row.managed, Dismissed: row.dismissed,
      total: row.total,
      unmanaged: row.unmanaged, managed: row.managed, dismissed: row.dismissed,
      mismatched: row.mismatched, expiring_within_14_days: row.expiring, expired: row.expired,
      scans_running: scans.running,
      ...(scans.last_completed ? { last_scan_completed_at: new Date(scans.last_completed).toISOString() } : {}),
    };
  }

  /**
   * An agent's filesystem discovery report, through the same pipeline as the network scanner. Every PEM is
   * parsed here (the agent's own fingerprints and names are not trusted); one that does not parse is a 400
   * naming it.
   */
  async agentReport(agentId: string, body: AgentDiscoveryReportDto, correlationId: string): Promise<ScanView> {
    if (body.agent_id !== undefined && body.agent_id !== agentId) {
      throw ApiError.invalidField('agent_id', `must be the agent of the path (${agentId})`);
    }
    const agent = await this.dataSource.manager.findOneBy(AgentEntity, { id: agentId });
    if (!agent) throw ApiError.notFound('agent', agentId);
    if (agent.retired_at) throw new ApiError(HttpStatus.GONE, 'AGENT_RETIRED', `agent ${agentId} is retired`);
    const certificates: DiscoveredCertificateInput[] = body.certificates.map((c, i) => {
      const blocks = pemBlocks(c.pem_data);
      try {
        if (!blocks.length) throw new Error('no PEM certificate');
        return describeDiscovered(blocks, c.source_path, c.source_format === 'DER' ? 'DER' : 'PEM');
      } catch {
        throw ApiError.invalidField(`certificates[${i}].pem_data`, 'must hold a PEM-encoded X.509 certificate');
      }
    });
    const scan: DiscoveryScanEntity = await this.pipeline.recordAgentReport(agentId, {
      directories: body.directories ?? [], certificates, errors: body.errors ?? [], scan_duration_ms: body.scan_duration_ms,
    }, correlationId);
    return presentScan(scan);
  }
}
