import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { insertNetworkScan, JobProducer, newId, ScanTargetSnapshot } from '@certctl/db';

/** A scan whose row has not moved for this long lost its jobs (Redis flushed, every replica gone): it fails. */
const STALLED_AFTER_MS = 15 * 60_000;

/**
 * Per-target scheduling: on each `network-scan.due` tick (a BullMQ job scheduler on the scan queue, so one
 * tick runs once across replicas), every enabled target whose own `scan_interval_hours` has elapsed gets a
 * scan, unless one of its scans is still Pending or Running (a partial unique index makes that race-free).
 */
@Injectable()
export class ScanScheduleService {
  private readonly logger = new Logger(ScanScheduleService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {}

  async due(): Promise<string[]> {
    await this.failStalled();
    await this.requeuePending();
    const targets: ScanTargetSnapshot[] =
      await this.dataSource.query(
        `SELECT id, cidrs, ports, sni_hostnames, timeout_ms, rate_limit_per_second FROM network_scan_targets
          WHERE enabled AND (next_scan_at IS NULL OR next_scan_at <= now()) ORDER BY next_scan_at NULLS FIRST LIMIT 500`);
    const started: string[] = [];
    for (const target of targets) {
      const scanId = newId('discoveryScan');
      const inserted = await this.dataSource.transaction((tx) => insertNetworkScan(tx, scanId, target));
      if (!inserted) continue; // still scanning from last time: the next interval starts from now
      await this.producer.enqueue('network-scan.run', { scanId }, scanId);
      started.push(scanId);
    }
    if (started.length) this.logger.log({ scans: started.length }, 'scheduled network scans started');
    return started;
  }

  /**
   * Postgres is the truth: a scan still Pending half a minute after it was created lost its run job (Redis
   * flushed, a crash between commit and enqueue). Enqueueing again is a no-op while that job still exists. Also run
   * by SelfHealing (with no minimum age right after Redis reconnected).
   */
  async requeuePending(minAgeMs = 30_000): Promise<number> {
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `SELECT id FROM discovery_scans WHERE source = 'network' AND status = 'Pending'
          AND created_at < now() - make_interval(secs => $1::numeric / 1000) LIMIT 500`, [minAgeMs]);
    for (const { id } of rows) await this.producer.enqueue('network-scan.run', { scanId: id }, id);
    return rows.length;
  }

  private async failStalled(): Promise<void> {
    await this.dataSource.query(
      `UPDATE discovery_scans SET status = 'Failed', last_error = 'stalled: no progress for 15 minutes', completed_at = now(), updated_at = now()
        WHERE source = 'network' AND status IN ('Pending', 'Running') AND updated_at < now() - make_interval(secs => $1::numeric / 1000)`,
      [STALLED_AFTER_MS]);
  }

  /** Milliseconds between due checks (config), for the job scheduler. */
  get intervalMs(): number {
    return this.config.networkScan.dueCheckIntervalMs;
  }
}
