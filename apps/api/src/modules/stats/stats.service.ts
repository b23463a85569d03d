import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TtlCache } from '../../common/cache';

/** certctl's DashboardSummary field names. */
export interface StatsSummary {
  total_certificates: number;
  active_certificates: number;
  expiring_certificates: number;
  expired_certificates: number;
  revoked_certificates: number;
  pending_certificates: number;
  failed_certificates: number;
  archived_certificates: number;
  total_agents: number;
  active_agents: number;
  offline_agents: number;
  pending_jobs: number;
  running_jobs: number;
  failed_jobs: number;
  complete_jobs: number;
  notifications_dead: number;
  completed_at: string;
}

/** The summary plus counts that certctl's summary does not carry but the metrics expose. */
export interface InventoryCounts extends StatsSummary {
  expiring_7d_certificates: number;
}

/** Delta rows beyond which a refresh also folds them (2x the distinct keys plus this slack). */
const COMPACT_SLACK_ROWS = 1_000;

/** Not archived or revoked: what can still expire. */
const LIVE = `status NOT IN ('Archived', 'Revoked')`;

/**
 * Certificates matching `statusFilter` whose expires_at is before the instant `at`: whole UTC days from the
 * status_count_deltas sums, plus the rows of the partial day of `at` counted through the expires_at index.
 */
function expiringBefore(at: string, statusFilter: string): string {
  const day = `((${at}) AT TIME ZONE 'UTC')::date`;
  return `((SELECT coalesce(sum(n), 0) FROM c WHERE ${statusFilter} AND expiry_day < ${day})
    + (SELECT count(*) FROM managed_certificates WHERE ${statusFilter}
        AND expires_at >= (${day})::timestamp AT TIME ZONE 'UTC' AND expires_at < (${at})))`;
}

/**
 * One statement. Counts by status come from the incrementally kept status_count_deltas (migration
 * StatusCounts), so its cost depends on the number of distinct (status, expiry day) keys, not on the number of
 * rows. "Expiring" = expires within 30 days and not yet expired, upstream's definition; archived certificates
 * count only as archived.
 */
const COUNTS_SQL = `
  WITH d AS (
    SELECT table_name, status, expiry_day, sum(n) AS n, count(*) AS raw FROM status_count_deltas GROUP BY 1, 2, 3
  ),
  c AS (SELECT status, expiry_day, n FROM d WHERE table_name = 'managed_certificates'),
  j AS (SELECT status, sum(n) AS n FROM d WHERE table_name = 'jobs' GROUP BY 1),
  expired AS (SELECT ${expiringBefore('now()', LIVE)} AS n)
  SELECT
    (SELECT coalesce(sum(n), 0) FROM c WHERE status <> 'Archived') AS total_certificates,
    (SELECT coalesce(sum(n), 0) FROM c WHERE status = 'Active') - ${expiringBefore(`now() + interval '30 days'`, `status = 'Active'`)} AS active_certificates,
    ${expiringBefore(`now() + interval '30 days'`, LIVE)} - (SELECT n FROM expired) AS expiring_certificates,
    ${expiringBefore(`now() + interval '7 days'`, LIVE)} - (SELECT n FROM expired) AS expiring_7d_certificates,
    (SELECT n FROM expired) AS expired_certificates,
    (SELECT coalesce(sum(n), 0) FROM c WHERE status = 'Revoked') AS revoked_certificates,
    (SELECT coalesce(sum(n), 0) FROM c WHERE status = 'Pending') AS pending_certificates,
    (SELECT coalesce(sum(n), 0) FROM c WHERE status = 'Failed') AS failed_certificates,
    (SELECT coalesce(sum(n), 0) FROM c WHERE status = 'Archived') AS archived_certificates,
    a.total_agents, a.active_agents, a.offline_agents,
    (SELECT coalesce(sum(n), 0) FROM j WHERE status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval')) AS pending_jobs,
    (SELECT coalesce(sum(n), 0) FROM j WHERE status = 'Running') AS running_jobs,
    (SELECT coalesce(sum(n), 0) FROM j WHERE status = 'Failed') AS failed_jobs,
    (SELECT coalesce(sum(n), 0) FROM j WHERE status = 'Completed') AS complete_jobs,
    (SELECT coalesce(sum(n), 0) FROM d WHERE table_name = 'notification_events' AND status = 'dead') AS notifications_dead,
    (SELECT coalesce(sum(raw), 0) FROM d) AS delta_rows,
    (SELECT count(*) FROM d) AS delta_keys
  FROM (SELECT count(*) FILTER (WHERE retired_at IS NULL) AS total_agents,
               count(*) FILTER (WHERE retired_at IS NULL AND status = 'Online') AS active_agents,
               count(*) FILTER (WHERE retired_at IS NULL AND status <> 'Online') AS offline_agents
        FROM agents) a
`;

@Injectable()
export class StatsService {
  private readonly logger = new Logger(StatsService.name);
  /** Dashboards and scrapes poll the counts; a few seconds of staleness lets many of them share one query. */
  private readonly cache: TtlCache<InventoryCounts>;
  private readonly typesCache: TtlCache<string[]>;
  private compacting = false;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, @Inject(APP_CONFIG) config: AppConfig) {
    this.cache = new TtlCache(config.server.readCacheTtlMs);
    this.typesCache = new TtlCache(config.server.readCacheTtlMs);
  }

  /** certctl's summary, computed at most once per CERTCTL_READ_CACHE_TTL per process; `completed_at` says when. */
  async summary(): Promise<StatsSummary> {
    const { expiring_7d_certificates: _omitted, ...summary } = await this.counts();
    return summary;
  }

  /** Every inventory count, shared by the summary and the metrics. */
  counts(): Promise<InventoryCounts> {
    return this.cache.get('counts', () => this.computeCounts());
  }

  /** Target types in the inventory (the deploy metric families have zero series for each from the first scrape). */
  deployTargetTypes(): Promise<string[]> {
    return this.typesCache.get('deploy-target-types', async () => {
      const rows = await this.dataSource.query<Array<{ type: string }>>(`SELECT DISTINCT type FROM deployment_targets`);
      return rows.map((r) => r.type);
    });
  }

  private async computeCounts(): Promise<InventoryCounts> {
    const [row] = await this.dataSource.query<Array<Record<string, string>>>(COUNTS_SQL);
    const { delta_rows: rows, delta_keys: keys, ...counts } = Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
    if (rows! > 2 * keys! + COMPACT_SLACK_ROWS) this.compact();
    return { ...(counts as unknown as Omit<InventoryCounts, 'completed_at'>), completed_at: new Date().toISOString() };
  }

  /** Folds the delta rows in the background; the answer being served does not wait for it. */
  private compact(): void {
    if (this.compacting) return;
    this.compacting = true;
    this.dataSource.query('SELECT compact_status_count_deltas()')
      .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'could not compact status_count_deltas'))
      .finally(() => (this.compacting = false));
  }
}
