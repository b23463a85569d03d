import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { HEALTH_STATUSES } from '@certctl/contracts';
import {
  allowedAddresses, EndpointHealthCheckEntity, EndpointHealthHistoryEntity, parseHealthEndpoint, ScanRangeError,
} from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import type { Page } from '../../common/http/pagination';
import { AcknowledgeHealthCheckDto, CreateHealthCheckDto, HealthCheckQuery, UpdateHealthCheckDto } from './dto/health-check.dto';

const RANGE_CODES = { cap: 'SCAN_RANGE_OVER_CAP', reserved: 'SCAN_RANGE_RESERVED', syntax: 'VALIDATION_FAILED', unsupported: 'VALIDATION_FAILED' } as const;
/** Fields certctl leaves out of its JSON when they are unset (`omitempty`); we do the same, and with our extras. */
const OMITTED_WHEN_UNSET = [
  'certificate_id', 'target_id', 'network_scan_target_id', 'cert_expiry', 'last_checked_at', 'last_success_at', 'last_failure_at',
  'last_transition_at', 'acknowledged_by', 'acknowledged_at',
] as const;

export type HealthCheckView = Partial<EndpointHealthCheckEntity> & { id: string };
export type HealthSummary = Record<(typeof HEALTH_STATUSES)[number] | 'total', number>;

/** certctl's JSON of a check: unset optional fields omitted. */
export function presentHealthCheck(row: EndpointHealthCheckEntity): HealthCheckView {
  const view: Record<string, unknown> = { ...row };
  for (const field of OMITTED_WHEN_UNSET) if (view[field] === null || view[field] === '') delete view[field];
  return view as HealthCheckView;
}

/** Endpoint health checks: CRUD with certctl's rules plus the address policy of scan targets and interval bounds. */
@Injectable()
export class HealthChecksService {
  private readonly crud: CrudResource<EndpointHealthCheckEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: EndpointHealthCheckEntity, table: 'endpoint_health_checks', resource: 'health check', idKind: 'healthCheck',
      category: 'config', actions: { created: 'health_check_created', updated: 'health_check_updated', deleted: 'health_check_deleted' },
      filters: ['status', 'certificate_id', 'target_id', 'network_scan_target_id', 'enabled', 'acknowledged'],
      sortable: ['endpoint', 'status', 'last_checked_at', 'last_transition_at', 'next_check_at', 'updated_at'],
    });
  }

  async list(query: HealthCheckQuery): Promise<Page<HealthCheckView>> {
    const page = await this.crud.list(query);
    return { ...page, data: page.data.map(presentHealthCheck) };
  }

  async get(id: string): Promise<HealthCheckView> {
    return presentHealthCheck(await this.crud.get(id));
  }

  async summary(): Promise<HealthSummary> {
    const rows: Array<{ status: string; n: string }> = await this.dataSource.query(
      `SELECT status, count(*) AS n FROM endpoint_health_checks GROUP BY status`);
    const summary = Object.fromEntries([...HEALTH_STATUSES, 'total'].map((s) => [s, 0])) as HealthSummary;
    for (const row of rows) {
      summary[row.status as keyof HealthSummary] = Number(row.n);
      summary.total += Number(row.n);
    }
    return summary;
  }

  async create(actor: Principal, body: CreateHealthCheckDto): Promise<HealthCheckView> {
    await this.checkEndpoint(body.endpoint);
    const defaults = this.config.healthCheck;
    const row = {
      ...body,
      endpoint: body.endpoint.trim(),
      expected_fingerprint: normalizeFingerprint(body.expected_fingerprint),
      check_interval_seconds: this.checkInterval(body.check_interval_seconds ?? defaults.defaultIntervalSeconds),
      timeout_ms: body.timeout_ms ?? defaults.defaultTimeoutMs,
      degraded_threshold: body.degraded_threshold ?? 2,
      down_threshold: body.down_threshold ?? 5,
    };
    checkThresholds(row.degraded_threshold, row.down_threshold);
    return presentHealthCheck(await this.crud.create(actor, row));
  }

  async update(actor: Principal, id: string, body: UpdateHealthCheckDto): Promise<HealthCheckView> {
    if (body.endpoint !== undefined) await this.checkEndpoint(body.endpoint);
    if (body.check_interval_seconds !== undefined) this.checkInterval(body.check_interval_seconds);
    if (body.degraded_threshold !== undefined || body.down_threshold !== undefined) {
      // Named here; the table's CHECK constraint backs it up against a concurrent edit.
      const current = await this.crud.get(id);
      checkThresholds(body.degraded_threshold ?? current.degraded_threshold, body.down_threshold ?? current.down_threshold);
    }
    const patch: Partial<EndpointHealthCheckEntity> = {
      ...body,
      ...(body.endpoint !== undefined ? { endpoint: body.endpoint.trim() } : {}),
      ...(body.expected_fingerprint !== undefined ? { expected_fingerprint: normalizeFingerprint(body.expected_fingerprint) } : {}),
    };
    const row = await this.crud.update(actor, id, patch, async (tx) => {
      // A shorter interval takes effect now rather than after the old, longer wait.
      if (body.check_interval_seconds !== undefined) {
        await tx.query(
          `UPDATE endpoint_health_checks SET next_check_at = LEAST(next_check_at, now() + make_interval(secs => check_interval_seconds)) WHERE id = $1`, [id]);
      }
    });
    return presentHealthCheck(row);
  }

  remove(actor: Principal, id: string): Promise<void> {
    return this.crud.remove(actor, id);
  }

  /** The newest probes first (certctl answers a bare array). */
  async history(id: string, limit: number): Promise<Array<Record<string, unknown>>> {
    await this.crud.get(id);
    const rows = await this.dataSource.manager.find(EndpointHealthHistoryEntity, {
      where: { health_check_id: id }, order: { checked_at: 'DESC', id: 'DESC' }, take: limit,
    });
    return rows.map((r) => ({ ...r, id: String(r.id) }));
  }

  /** Marks the current incident as seen; the next status change clears it again. */
  async acknowledge(actor: Principal, id: string, body: AcknowledgeHealthCheckDto): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      await this.crud.lock(tx, id);
      await tx.update(EndpointHealthCheckEntity, { id }, { acknowledged: true, acknowledged_by: actor.actor, acknowledged_at: new Date() });
      await this.audit.record({
        actor, action: 'health_check_acknowledged', resource_type: 'endpoint_health_checks', resource_id: id,
        event_category: 'cert_lifecycle', details: body.actor ? { stated_actor: body.actor } : {},
      }, tx);
    });
  }

  /** 400 naming `endpoint`: malformed, IPv6, or an address (or a name resolving to one) that scans may not reach. */
  private async checkEndpoint(endpoint: string): Promise<void> {
    try {
      await allowedAddresses(parseHealthEndpoint(endpoint), this.config.networkScan);
    } catch (err) {
      if (!(err instanceof ScanRangeError)) throw err;
      throw new ApiError(HttpStatus.BAD_REQUEST, RANGE_CODES[err.reason], err.message, [
        { field: 'endpoint', message: err.message.replace(/^endpoint: /, '') },
      ]);
    }
  }

  private checkInterval(seconds: number): number {
    const { minIntervalSeconds: min, maxIntervalSeconds: max } = this.config.healthCheck;
    if (seconds < min || seconds > max) {
      throw ApiError.invalidField('check_interval_seconds', `must be between ${min} and ${max} seconds, got ${seconds}`);
    }
    return seconds;
  }
}

function checkThresholds(degraded: number, down: number): void {
  if (down < degraded) throw ApiError.invalidField('down_threshold', `must be at least degraded_threshold (${degraded}), got ${down}`);
}

/** Lowercase hex without colons, the form deployments record. */
function normalizeFingerprint(fingerprint: string | undefined): string | undefined {
  return fingerprint === undefined ? undefined : fingerprint.replace(/:/g, '').toLowerCase();
}
