import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DiscoveryScanEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import type { Page } from '../../common/http/pagination';
import { DiscoveryScanQuery } from './dto/discovery.dto';

/** A scan as the API shows it: the row without the per-shard bookkeeping, plus percent done and ETA. */
export type ScanView = Omit<DiscoveryScanEntity, 'shard_progress'> & { progress_percent: number; eta_seconds: number | null };

export function presentScan(scan: DiscoveryScanEntity): ScanView {
  const { shard_progress, ...rest } = scan;
  const active = scan.status === 'Pending' || scan.status === 'Running';
  let errorSummary = scan.error_summary;
  if (active) {
    // Live breakdown from the shards; written once into error_summary when the scan completes.
    errorSummary = {};
    for (const shard of Object.values(shard_progress ?? {})) {
      for (const [kind, n] of Object.entries((shard as { kinds?: Record<string, number> }).kinds ?? {})) errorSummary[kind] = (errorSummary[kind] ?? 0) + n;
    }
  }
  const percent = scan.addresses_total ? Math.floor((scan.addresses_done / scan.addresses_total) * 1000) / 10 : scan.status === 'Completed' ? 100 : 0;
  let eta: number | null = null;
  if (scan.status === 'Running' && scan.started_at && scan.addresses_done > 0) {
    const elapsed = (Date.now() - new Date(scan.started_at).getTime()) / 1000;
    eta = Math.max(0, Math.round((elapsed * (scan.addresses_total - scan.addresses_done)) / scan.addresses_done));
  } else if (!active) {
    eta = 0;
  }
  return { ...rest, error_summary: errorSummary, progress_percent: percent, eta_seconds: eta };
}

@Injectable()
export class DiscoveryScansService {
  private readonly crud: CrudResource<DiscoveryScanEntity>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: DiscoveryScanEntity, table: 'discovery_scans', resource: 'discovery scan', idKind: 'discoveryScan', category: 'cert_lifecycle',
      actions: { created: 'discovery_scan_created', updated: 'discovery_scan_updated', deleted: 'discovery_scan_deleted' },
      filters: ['agent_id', 'network_scan_target_id', 'status', 'source'], sortable: ['started_at', 'completed_at', 'updated_at'],
    });
  }

  async list(query: DiscoveryScanQuery): Promise<Page<ScanView>> {
    const page = await this.crud.list(query);
    return { ...page, data: page.data.map(presentScan) };
  }

  async get(id: string): Promise<ScanView> {
    return presentScan(await this.crud.get(id));
  }

  /** Stops a Pending or Running scan: shards see it within half a second and close their sockets. 409 otherwise. */
  async cancel(actor: Principal, id: string): Promise<ScanView> {
    return this.dataSource.transaction(async (tx) => {
      const scan = await this.crud.lock(tx, id);
      if (scan.status !== 'Pending' && scan.status !== 'Running') {
        throw ApiError.conflict('SCAN_NOT_RUNNING', `discovery scan ${id} is ${scan.status}; only a Pending or Running scan can be cancelled`);
      }
      await tx.query(
        `UPDATE discovery_scans SET status = 'Cancelled', cancelled_at = now(), completed_at = now(),
                scan_duration_ms = (EXTRACT(EPOCH FROM now() - COALESCE(started_at, created_at)) * 1000)::int, updated_at = now()
          WHERE id = $1`, [id]);
      await this.audit.record({ actor, action: 'discovery_scan_cancelled', resource_type: 'discovery_scans', resource_id: id,
        event_category: 'cert_lifecycle', details: { addresses_done: scan.addresses_done, addresses_total: scan.addresses_total } }, tx);
      return presentScan(await this.crud.get(id, tx));
    });
  }
}
