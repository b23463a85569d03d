import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TtlCache } from '../../common/cache';
import type { Principal } from '../../common/auth/principal';
import { positionalBinder, visibilityOf } from '../../common/auth/visibility';
import { SENTINEL_AGENT_IDS } from '../agents/agents.service';
import { certificateScopeSql } from '../certificates/certificate-scope';
import { targetScopeSql } from '../targets/targets.service';
import type { CertificateStatusCount, ExpirationBucket, IssuanceRateDataPoint, JobTrendDataPoint } from './dto/stats.dto';

/** certctl's DashboardSummary counts, in its order (also the properties of the response schema). */
export const STATS_SUMMARY_COUNTS = [
  'total_certificates', 'active_certificates', 'expiring_certificates', 'expired_certificates', 'revoked_certificates',
  'pending_certificates', 'failed_certificates', 'archived_certificates', 'total_agents', 'active_agents', 'offline_agents',
  'pending_jobs', 'running_jobs', 'failed_jobs', 'complete_jobs', 'notifications_dead',
] as const;

export type StatsSummary = Record<(typeof STATS_SUMMARY_COUNTS)[number], number> & { completed_at: string };

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
        FROM agents
        -- The sentinel agents (the server-side scanner, cloud sources) are not hosts: a fresh install has no agent online.
        WHERE id NOT IN (${[...SENTINEL_AGENT_IDS].map((id) => `'${id}'`).join(', ')})) a
`;

/**
 * Certificates by status, certctl's way: an Active certificate that expires within 30 days counts as Expiring,
 * one already past its expiry as Expired. Whole days come from status_count_deltas, as in the summary.
 */
const BY_STATUS_SQL = `
  WITH c AS (
    SELECT status, expiry_day, sum(n) AS n FROM status_count_deltas WHERE table_name = 'managed_certificates' GROUP BY 1, 2
  ),
  active_expired AS (SELECT ${expiringBefore('now()', `status = 'Active'`)} AS n),
  active_expiring AS (SELECT ${expiringBefore(`now() + interval '30 days'`, `status = 'Active'`)} - (SELECT n FROM active_expired) AS n)
  SELECT status, sum(n) AS count FROM c GROUP BY status
  UNION ALL SELECT 'Active', -(SELECT n FROM active_expired) - (SELECT n FROM active_expiring)
  UNION ALL SELECT 'Expired', (SELECT n FROM active_expired)
  UNION ALL SELECT 'Expiring', (SELECT n FROM active_expiring)
`;

/**
 * Live certificates expiring per UTC day from tomorrow to $1 (exclusive), from the deltas; today's bucket
 * counts only what expires from now to midnight, through the expires_at index.
 */
const EXPIRATION_TIMELINE_SQL = `
  SELECT to_char(expiry_day, 'YYYY-MM-DD') AS date, sum(n) AS count FROM status_count_deltas
   WHERE table_name = 'managed_certificates' AND ${LIVE}
     AND expiry_day > (now() AT TIME ZONE 'UTC')::date AND expiry_day < $1::date
   GROUP BY expiry_day
  UNION ALL
  SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), count(*) FROM managed_certificates
   WHERE ${LIVE} AND expires_at >= now() AND expires_at < ((now() AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
`;

/** Finished jobs per UTC day since $1 (through the partial index on completed_at). */
const JOB_TRENDS_SQL = `
  SELECT to_char((completed_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date,
         count(*) FILTER (WHERE status = 'Completed') AS completed, count(*) FILTER (WHERE status = 'Failed') AS failed
    FROM jobs WHERE status IN ('Completed', 'Failed') AND completed_at >= $1::timestamptz
   GROUP BY 1
`;

/** Issued certificate versions per UTC day since $1: each version is one issuance or renewal. */
const ISSUANCE_RATE_SQL = `
  SELECT to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date, count(*) AS issued
    FROM certificate_versions WHERE created_at >= $1::timestamptz GROUP BY 1
`;

/**
 * A scoped caller's summary: the same definitions as COUNTS_SQL, counted over the rows its grants reach (the
 * status_count_deltas are global, so these count rows: a team's share of the inventory, through the team index).
 * `$SCOPE` is a condition on managed_certificates `c`; `$TARGETS` one on deployment_targets `t`.
 */
const SCOPED_COUNTS_SQL = `
  WITH c AS (SELECT c.status, c.expires_at FROM managed_certificates c WHERE $SCOPE),
  j AS (SELECT j.status FROM jobs j JOIN managed_certificates c ON c.id = j.certificate_id WHERE $SCOPE)
  SELECT
    (SELECT count(*) FROM c WHERE status <> 'Archived') AS total_certificates,
    (SELECT count(*) FROM c WHERE status = 'Active' AND (expires_at IS NULL OR expires_at >= now() + interval '30 days')) AS active_certificates,
    (SELECT count(*) FROM c WHERE ${LIVE} AND expires_at >= now() AND expires_at < now() + interval '30 days') AS expiring_certificates,
    (SELECT count(*) FROM c WHERE ${LIVE} AND expires_at >= now() AND expires_at < now() + interval '7 days') AS expiring_7d_certificates,
    (SELECT count(*) FROM c WHERE ${LIVE} AND expires_at < now()) AS expired_certificates,
    (SELECT count(*) FROM c WHERE status = 'Revoked') AS revoked_certificates,
    (SELECT count(*) FROM c WHERE status = 'Pending') AS pending_certificates,
    (SELECT count(*) FROM c WHERE status = 'Failed') AS failed_certificates,
    (SELECT count(*) FROM c WHERE status = 'Archived') AS archived_certificates,
    a.total_agents, a.active_agents, a.offline_agents,
    (SELECT count(*) FROM j WHERE status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval')) AS pending_jobs,
    (SELECT count(*) FROM j WHERE status = 'Running') AS running_jobs,
    (SELECT count(*) FROM j WHERE status = 'Failed') AS failed_jobs,
    (SELECT count(*) FROM j WHERE status = 'Completed') AS complete_jobs,
    (SELECT count(*) FROM notification_events n JOIN managed_certificates c ON c.id = n.certificate_id WHERE n.status = 'dead' AND $SCOPE) AS notifications_dead
  FROM (SELECT count(*) FILTER (WHERE retired_at IS NULL) AS total_agents,
               count(*) FILTER (WHERE retired_at IS NULL AND status = 'Online') AS active_agents,
               count(*) FILTER (WHERE retired_at IS NULL AND status <> 'Online') AS offline_agents
        FROM agents ag
        WHERE ag.id NOT IN (${[...SENTINEL_AGENT_IDS].map((id) => `'${id}'`).join(', ')})
          AND EXISTS (SELECT 1 FROM deployment_targets t WHERE t.agent_id = ag.id AND $TARGETS)) a
`;

/** A scoped caller's certificates by status (certctl's Active/Expiring/Expired split), counted over its rows. */
const SCOPED_BY_STATUS_SQL = `
  SELECT CASE WHEN status = 'Active' AND expires_at < now() THEN 'Expired'
              WHEN status = 'Active' AND expires_at < now() + interval '30 days' THEN 'Expiring'
              ELSE status END AS status, count(*) AS count
    FROM managed_certificates c WHERE $SCOPE GROUP BY 1
`;

const SCOPED_EXPIRATION_TIMELINE_SQL = `
  SELECT to_char((expires_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date, count(*) AS count FROM managed_certificates c
   WHERE ${LIVE} AND expires_at >= now() AND expires_at < ($1::date)::timestamp AT TIME ZONE 'UTC' AND $SCOPE GROUP BY 1
`;

const SCOPED_JOB_TRENDS_SQL = `
  SELECT to_char((j.completed_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date,
         count(*) FILTER (WHERE j.status = 'Completed') AS completed, count(*) FILTER (WHERE j.status = 'Failed') AS failed
    FROM jobs j JOIN managed_certificates c ON c.id = j.certificate_id
   WHERE j.status IN ('Completed', 'Failed') AND j.completed_at >= $1::timestamptz AND $SCOPE
   GROUP BY 1
`;

const SCOPED_ISSUANCE_RATE_SQL = `
  SELECT to_char((v.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS date, count(*) AS issued
    FROM certificate_versions v JOIN managed_certificates c ON c.id = v.certificate_id
   WHERE v.created_at >= $1::timestamptz AND $SCOPE GROUP BY 1
`;

/** A statement's `$SCOPE` (and `$TARGETS`) filled for the caller, its parameters after `params`. */
interface ScopedQuery {
  /** Cache key: the scope's parameters (same grants, same answer). */
  key: string;
  sql(template: string, params: unknown[]): { text: string; params: unknown[] };
}

/** Undefined when the caller's stats.read grant is global (the shared, delta-based answers apply). */
function scopedQuery(actor: Principal | undefined): ScopedQuery | undefined {
  const visibility = visibilityOf(actor, 'stats.read');
  if (visibility.kind === 'all') return undefined;
  return {
    key: JSON.stringify(visibility),
    sql(template, params) {
      const all = [...params];
      const scope = certificateScopeSql(actor, 'stats.read', all, 'c') ?? 'TRUE';
      const text = template.replaceAll('$SCOPE', () => scope);
      const targets = template.includes('$TARGETS') ? targetScopeSql(actor, 'stats.read', positionalBinder(all), 't') ?? 'TRUE' : '';
      return { text: text.replaceAll('$TARGETS', () => targets), params: all };
    },
  };
}

const DAY_MS = 86_400_000;

/** `count` UTC dates (YYYY-MM-DD) starting `offsetDays` from today. */
function utcDays(offsetDays: number, count: number, now = Date.now()): string[] {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return Array.from({ length: count }, (_, i) => new Date(today + (offsetDays + i) * DAY_MS).toISOString().slice(0, 10));
}

@Injectable()
export class StatsService {
  private readonly logger = new Logger(StatsService.name);
  /** Dashboards and scrapes poll the counts; a few seconds of staleness lets many of them share one query. */
  private readonly cache: TtlCache<InventoryCounts>;
  private readonly chartCache: TtlCache<unknown>;
  private readonly typesCache: TtlCache<string[]>;
  private compacting = false;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, @Inject(APP_CONFIG) config: AppConfig) {
    this.cache = new TtlCache(config.server.readCacheTtlMs);
    this.chartCache = new TtlCache(config.server.readCacheTtlMs, 100);
    this.typesCache = new TtlCache(config.server.readCacheTtlMs);
  }

  /** certctl's certificates-by-status: one entry per status that has certificates (the caller's, when its grant is scoped). */
  certificatesByStatus(actor?: Principal): Promise<CertificateStatusCount[]> {
    const scoped = scopedQuery(actor);
    return this.cached(`by-status${scoped ? `:${scoped.key}` : ''}`, async () => {
      const query = scoped ? scoped.sql(SCOPED_BY_STATUS_SQL, []) : { text: BY_STATUS_SQL, params: [] };
      const rows = await this.dataSource.query<Array<{ status: string; count: string }>>(query.text, query.params);
      const counts = new Map<string, number>();
      for (const row of rows) counts.set(row.status, (counts.get(row.status) ?? 0) + Number(row.count));
      return [...counts].filter(([, count]) => count > 0).map(([status, count]) => ({ status, count }))
        .sort((a, b) => a.status.localeCompare(b.status));
    });
  }

  /** One bucket per UTC day from today, `days` of them; archived and revoked certificates are left out. */
  expirationTimeline(days: number, actor?: Principal): Promise<ExpirationBucket[]> {
    const scoped = scopedQuery(actor);
    return this.cached(`expiration:${days}${scoped ? `:${scoped.key}` : ''}`, async () => {
      const dates = utcDays(0, days);
      const end = utcDays(days, 1)[0];
      const query = scoped ? scoped.sql(SCOPED_EXPIRATION_TIMELINE_SQL, [end]) : { text: EXPIRATION_TIMELINE_SQL, params: [end] };
      const rows = await this.dataSource.query<Array<{ date: string; count: string }>>(query.text, query.params);
      const byDate = new Map(rows.map((r) => [r.date, Number(r.count)]));
      return dates.map((date) => ({ date, count: byDate.get(date) ?? 0 }));
    });
  }

  /** Jobs finished per UTC day over the last `days` days, today included. */
  jobTrends(days: number, actor?: Principal): Promise<JobTrendDataPoint[]> {
    const scoped = scopedQuery(actor);
    return this.cached(`jobs:${days}${scoped ? `:${scoped.key}` : ''}`, async () => {
      const dates = utcDays(1 - days, days);
      const since = [`${dates[0]}T00:00:00Z`];
      const query = scoped ? scoped.sql(SCOPED_JOB_TRENDS_SQL, since) : { text: JOB_TRENDS_SQL, params: since };
      const rows = await this.dataSource.query<Array<{ date: string; completed: string; failed: string }>>(query.text, query.params);
      const byDate = new Map(rows.map((r) => [r.date, r]));
      return dates.map((date) => {
        const completed = Number(byDate.get(date)?.completed ?? 0);
        const failed = Number(byDate.get(date)?.failed ?? 0);
        return { date, completed_count: completed, failed_count: failed, success_rate: completed + failed ? (completed / (completed + failed)) * 100 : 0 };
      });
    });
  }

  /** Certificates issued (new versions) per UTC day over the last `days` days, today included. */
  issuanceRate(days: number, actor?: Principal): Promise<IssuanceRateDataPoint[]> {
    const scoped = scopedQuery(actor);
    return this.cached(`issuance:${days}${scoped ? `:${scoped.key}` : ''}`, async () => {
      const dates = utcDays(1 - days, days);
      const since = [`${dates[0]}T00:00:00Z`];
      const query = scoped ? scoped.sql(SCOPED_ISSUANCE_RATE_SQL, since) : { text: ISSUANCE_RATE_SQL, params: since };
      const rows = await this.dataSource.query<Array<{ date: string; issued: string }>>(query.text, query.params);
      const byDate = new Map(rows.map((r) => [r.date, Number(r.issued)]));
      return dates.map((date) => ({ date, issued_count: byDate.get(date) ?? 0 }));
    });
  }

  private cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    return this.chartCache.get(key, compute) as Promise<T>;
  }

  /** certctl's summary, computed at most once per CERTCTL_READ_CACHE_TTL per process; `completed_at` says when. */
  async summary(actor?: Principal): Promise<StatsSummary> {
    const scoped = scopedQuery(actor);
    const counts = scoped ? await this.cache.get(`counts:${scoped.key}`, () => this.computeScopedCounts(scoped)) : await this.counts();
    const { expiring_7d_certificates: _omitted, ...summary } = counts;
    return summary;
  }

  private async computeScopedCounts(scoped: ScopedQuery): Promise<InventoryCounts> {
    const query = scoped.sql(SCOPED_COUNTS_SQL, []);
    const [row] = await this.dataSource.query<Array<Record<string, string>>>(query.text, query.params);
    const counts = Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)]));
    return { ...(counts as unknown as Omit<InventoryCounts, 'completed_at'>), completed_at: new Date().toISOString() };
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
