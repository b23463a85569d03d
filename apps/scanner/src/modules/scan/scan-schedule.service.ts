import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { JobProducer, newId, SERVER_SCANNER_AGENT_ID } from '@certctl/db';

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
    const targets: Array<{ id: string; cidrs: string[]; ports: number[]; sni_hostnames: string[]; timeout_ms: number; rate_limit_per_second: number | null; scan_interval_hours: number }> =
      await this.dataSource.query(
        `SELECT id, cidrs, ports, sni_hostnames, timeout_ms, rate_limit_per_second, scan_interval_hours FROM network_scan_targets
          WHERE enabled AND (next_scan_at IS NULL OR next_scan_at <= now()) ORDER BY next_scan_at NULLS FIRST LIMIT 500`);
    const started: string[] = [];
    for (const target of targets) {
      const scanId = newId('discoveryScan');
      const inserted = await this.dataSource.transaction(async (tx) => {
        const rows: unknown[] = await tx.query(
          `INSERT INTO discovery_scans (id, agent_id, network_scan_target_id, source, status, directories, ports, sni_hostnames, timeout_ms, rate_limit_per_second)
           VALUES ($1, $2, $3, 'network', 'Pending', $4, $5, $6, $7, $8)
           ON CONFLICT (network_scan_target_id) WHERE status IN ('Pending', 'Running') DO NOTHING RETURNING id`,
          [scanId, SERVER_SCANNER_AGENT_ID, target.id, target.cidrs, target.ports, target.sni_hostnames, target.timeout_ms,
            target.rate_limit_per_second ?? 0]);
        await tx.query(`UPDATE network_scan_targets SET next_scan_at = now() + make_interval(hours => scan_interval_hours) WHERE id = $1`, [target.id]);
        return rows.length > 0;
      });
      if (!inserted) continue; // still scanning from last time: the next interval starts from now
      await this.producer.enqueue('network-scan.run', { scanId }, scanId);
      started.push(scanId);
    }
    if (started.length) this.logger.log({ scans: started.length }, 'scheduled network scans started');
    return started;
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
