import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import {
  DiscoveryScanEntity, insertNetworkScan, JobProducer, NetworkScanTargetEntity, newId, parseTargetRanges, ScanRangeError,
} from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { CreateNetworkScanTargetDto, UpdateNetworkScanTargetDto } from './dto/discovery.dto';
import { presentScan, ScanView } from './discovery-scans.service';

const RANGE_CODES = { cap: 'SCAN_RANGE_OVER_CAP', reserved: 'SCAN_RANGE_RESERVED', syntax: 'VALIDATION_FAILED', unsupported: 'VALIDATION_FAILED' } as const;

@Injectable()
export class NetworkScanTargetsService {
  readonly crud: CrudResource<NetworkScanTargetEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: NetworkScanTargetEntity, table: 'network_scan_targets', resource: 'network scan target', idKind: 'networkScanTarget',
      category: 'config', actions: { created: 'network_scan_target_created', updated: 'network_scan_target_updated', deleted: 'network_scan_target_deleted' },
      filters: ['enabled'], sortable: ['name', 'last_scan_at', 'next_scan_at', 'updated_at'], searchable: ['name'],
    });
  }

  create(actor: Principal, body: CreateNetworkScanTargetDto): Promise<NetworkScanTargetEntity> {
    this.checkRanges(body.cidrs);
    return this.crud.create(actor, body);
  }

  update(actor: Principal, id: string, body: UpdateNetworkScanTargetDto): Promise<NetworkScanTargetEntity> {
    if (body.cidrs) this.checkRanges(body.cidrs);
    return this.crud.update(actor, id, body);
  }

  /**
   * Starts a scan now (202 with its id). 409 when the target is disabled or already being scanned: a target
   * is never scanned twice at once. The scan counts as the scheduled one: the next starts an interval later.
   */
  async scan(actor: Principal, id: string, correlationId: string): Promise<{ scan_id: string; scan: ScanView }> {
    const scanId = newId('discoveryScan');
    await this.dataSource.transaction(async (tx) => {
      const target = await this.crud.lock(tx, id);
      if (!target.enabled) throw ApiError.conflict('TARGET_DISABLED', `network scan target ${id} is disabled; enable it to scan`);
      this.checkRanges(target.cidrs);
      if (!(await insertNetworkScan(tx, scanId, target))) {
        const running = await tx.findOne(DiscoveryScanEntity, { where: { network_scan_target_id: id, status: 'Running' } })
          ?? await tx.findOne(DiscoveryScanEntity, { where: { network_scan_target_id: id, status: 'Pending' } });
        throw ApiError.conflict('SCAN_IN_PROGRESS', `network scan target ${id} is already being scanned (scan ${running?.id ?? 'unknown'})`,
          [{ field: 'id', message: `scan ${running?.id ?? 'unknown'} is still running` }]);
      }
      await this.audit.record({ actor, action: 'network_scan_requested', resource_type: 'network_scan_targets', resource_id: id,
        event_category: 'cert_lifecycle', details: { scan_id: scanId } }, tx);
    });
    await this.producer.enqueue('network-scan.run', { scanId, correlationId }, scanId);
    const scan = await this.dataSource.manager.findOneByOrFail(DiscoveryScanEntity, { id: scanId });
    return { scan_id: scanId, scan: presentScan(scan) };
  }

  /** 400 naming the CIDR and the reason: malformed, over the address cap, or a reserved range. */
  private checkRanges(cidrs: string[]): void {
    try {
      parseTargetRanges(cidrs, this.config.networkScan);
    } catch (err) {
      if (!(err instanceof ScanRangeError)) throw err;
      throw new ApiError(HttpStatus.BAD_REQUEST, RANGE_CODES[err.reason], err.message, [
        { field: err.field, message: err.message.slice(err.field.length + 2) },
      ]);
    }
  }
}
