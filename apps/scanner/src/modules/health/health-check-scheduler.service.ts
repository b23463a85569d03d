import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, JobMap, Queue, queueJobId } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';

/** Checks claimed per statement of a tick, and checks per probe job (what one replica takes at a time). */
const CLAIM_LIMIT = 5_000;
export const PROBE_BATCH_SIZE = 100;
/** History is purged at most this often per process. */
const PURGE_EVERY_MS = 60_000;

/**
 * The `health-check.due` tick (a BullMQ job scheduler, so one tick runs once across scanner replicas). It claims
 * every enabled check whose `next_check_at` has come, moving it one `check_interval_seconds` on in the same
 * statement, and hands the claimed ids to `health-check.probe` jobs that the replicas share. A check is
 * therefore claimed once per interval whichever replica ticks, and probed by exactly one replica; the schedule
 * does not drift (the next time is counted from the previous one, not from when the tick happened to run).
 */
@Injectable()
export class HealthCheckScheduler {
  private readonly logger = new Logger(HealthCheckScheduler.name);
  private lastPurge = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {}

  async due(correlationId?: string): Promise<{ claimed: number; batches: number }> {
    if (!this.config.healthCheck.enabled) return { claimed: 0, batches: 0 };
    await this.purgeHistory();
    let claimed = 0;
    let batches = 0;
    for (;;) {
      // TypeORM answers an UPDATE ... RETURNING with [rows, count].
      const [rows]: [Array<{ id: string }>, number] = await this.dataSource.query(
        `UPDATE endpoint_health_checks c
            SET next_check_at = CASE WHEN c.next_check_at + make_interval(secs => c.check_interval_seconds) > now()
                                     THEN c.next_check_at + make_interval(secs => c.check_interval_seconds)
                                     ELSE now() + make_interval(secs => c.check_interval_seconds) END
          WHERE c.id IN (SELECT id FROM endpoint_health_checks WHERE enabled AND next_check_at <= now()
                          ORDER BY next_check_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING c.id`, [CLAIM_LIMIT]);
      if (!rows.length) break;
      const stamp = Date.now().toString(36);
      const jobs = [];
      for (let i = 0; i < rows.length; i += PROBE_BATCH_SIZE) {
        const checkIds = rows.slice(i, i + PROBE_BATCH_SIZE).map((r) => r.id);
        jobs.push({
          name: 'health-check.probe' as const,
          data: { checkIds, correlationId } satisfies JobMap['health-check.probe'],
          opts: { ...DEFAULT_JOB_OPTIONS[Queue.HealthCheck], jobId: queueJobId('health-check.probe', `${checkIds[0]}.${stamp}`) },
        });
      }
      await this.producer.queue(Queue.HealthCheck).addBulk(jobs);
      claimed += rows.length;
      batches += jobs.length;
      if (rows.length < CLAIM_LIMIT) break;
    }
    if (claimed) this.logger.debug({ claimed, batches }, 'health checks due');
    return { claimed, batches };
  }

  /** The settings the deployment trigger reads (auto-create, defaults of an auto-created check). */
  async writeSettings(): Promise<void> {
    const { autoCreate, defaultIntervalSeconds, defaultTimeoutMs } = this.config.healthCheck;
    await this.dataSource.query(
      `INSERT INTO health_check_settings (singleton, auto_create, default_interval_seconds, default_timeout_ms, updated_at)
       VALUES (true, $1, $2, $3, now())
       ON CONFLICT (singleton) DO UPDATE SET auto_create = $1, default_interval_seconds = $2, default_timeout_ms = $3, updated_at = now()`,
      [autoCreate, defaultIntervalSeconds, defaultTimeoutMs]);
  }

  /** Probe history older than CERTCTL_HEALTH_CHECK_HISTORY_RETENTION goes, a bounded slice at a time. */
  async purgeHistory(force = false): Promise<number> {
    if (!force && Date.now() - this.lastPurge < PURGE_EVERY_MS) return 0;
    this.lastPurge = Date.now();
    const [, deleted]: [unknown, number] = await this.dataSource.query(
      `DELETE FROM endpoint_health_history WHERE id IN (
         SELECT id FROM endpoint_health_history WHERE checked_at < now() - make_interval(secs => $1::numeric / 1000) LIMIT 50000)`,
      [this.config.healthCheck.historyRetentionMs]);
    return deleted;
  }
}
