import { Inject, Injectable } from '@nestjs/common';
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

const EXPIRING_WINDOW = "interval '30 days'";

@Injectable()
export class StatsService {
  /** Dashboards poll the summary; a few seconds of staleness spares the database a full scan per request. */
  private readonly cache: TtlCache<StatsSummary>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, @Inject(APP_CONFIG) config: AppConfig) {
    this.cache = new TtlCache(config.server.readCacheTtlMs);
  }

  /** The summary, computed at most once per CERTCTL_READ_CACHE_TTL per process; `completed_at` says when. */
  summary(): Promise<StatsSummary> {
    return this.cache.get('summary', () => this.computeSummary());
  }

  /**
   * One round trip: each count is a filtered aggregate over its table. "Expiring" = expires within 30 days
   * and not yet expired (upstream's definition); archived certificates count only as archived.
   */
  private async computeSummary(): Promise<StatsSummary> {
    const [row] = await this.dataSource.query<Array<Record<string, string>>>(`
      SELECT c.*, a.*, j.*, n.*
      FROM (
        SELECT count(*) FILTER (WHERE status <> 'Archived') AS total_certificates,
               count(*) FILTER (WHERE status = 'Active' AND (expires_at IS NULL OR expires_at >= now() + ${EXPIRING_WINDOW})) AS active_certificates,
               count(*) FILTER (WHERE status NOT IN ('Archived', 'Revoked') AND expires_at >= now() AND expires_at < now() + ${EXPIRING_WINDOW}) AS expiring_certificates,
               count(*) FILTER (WHERE status NOT IN ('Archived', 'Revoked') AND expires_at < now()) AS expired_certificates,
               count(*) FILTER (WHERE status = 'Revoked') AS revoked_certificates,
               count(*) FILTER (WHERE status = 'Pending') AS pending_certificates,
               count(*) FILTER (WHERE status = 'Failed') AS failed_certificates,
               count(*) FILTER (WHERE status = 'Archived') AS archived_certificates
        FROM managed_certificates) c,
      (SELECT count(*) FILTER (WHERE retired_at IS NULL) AS total_agents,
              count(*) FILTER (WHERE retired_at IS NULL AND status = 'Online') AS active_agents,
              count(*) FILTER (WHERE retired_at IS NULL AND status <> 'Online') AS offline_agents
        FROM agents) a,
      (SELECT count(*) FILTER (WHERE status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval')) AS pending_jobs,
              count(*) FILTER (WHERE status = 'Running') AS running_jobs,
              count(*) FILTER (WHERE status = 'Failed') AS failed_jobs,
              count(*) FILTER (WHERE status = 'Completed') AS complete_jobs
        FROM jobs) j,
      (SELECT count(*) AS notifications_dead FROM notification_events WHERE status = 'dead') n
    `);
    const summary = Object.fromEntries(Object.entries(row ?? {}).map(([k, v]) => [k, Number(v)])) as unknown as StatsSummary;
    return { ...summary, completed_at: new Date().toISOString() };
  }
}
