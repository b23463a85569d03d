import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, JobMap, Queue, queueJobId } from '@certctl/contracts';
import {
  addressesBetween, describeDiscovered, DiscoveredCertificateInput, DiscoveryPipeline, DiscoveryScanEntity, JobProducer,
  NetworkScanTargetEntity, parseTargetRanges, REDIS, SERVER_SCANNER_AGENT_ID, ShardProgress, ScanRangeError,
} from '@certctl/db';
import { METRICS_REGISTRY } from '@certctl/observability';
import { isProbeError, PROBE_OUTCOMES, ProbeOutcome, probeContext, probeTls } from './tls-probe';
import { ScanRateLimiter, Semaphore } from './scan-limits';

/** How often a running shard writes its progress, hands its certificates to the pipeline and checks for cancel. */
const FLUSH_INTERVAL_MS = 500;

interface ShardState extends ShardProgress {
  kinds: Record<string, number>;
  /** Which scanner process ran (or last ran) the shard. */
  replica: string;
}

/**
 * The scanner's work. `network-scan.run` plans a scan (addresses, shards) and enqueues one
 * `network-scan.shard` job per slice of `shardSize` addresses × every port, so replicas share a large scan
 * and a failed shard is retried alone. A shard writes its own progress into the scan row (replacing, not
 * adding to, what an earlier attempt of the same shard wrote); the shard that completes the last slice
 * completes the scan.
 */
@Injectable()
export class NetworkScanService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(NetworkScanService.name);
  /** Sockets in flight in this process, over every shard it runs: the TCP connect sweep. */
  private readonly sockets: Semaphore;
  /** TLS handshakes in flight in this process, only ever on ports the sweep found open. */
  private readonly handshakes: Semaphore;
  /** One client context for every handshake (building one per probe cost more than the handshake's own crypto). */
  private readonly secureContext = probeContext();
  private readonly probes: Counter<'outcome'>;
  /** This process's name in shard progress: host, pid and a random tag (several replicas may share a pid in tests). */
  readonly replica = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  /** The shards running here, so a shutdown can stop them and hand them back to the queue. */
  private readonly running = new Set<AbortController>();
  private stopping = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(METRICS_REGISTRY) registry: Registry,
    private readonly producer: JobProducer,
    private readonly pipeline: DiscoveryPipeline,
  ) {
    this.sockets = new Semaphore(config.networkScan.concurrency);
    this.handshakes = new Semaphore(config.networkScan.handshakeConcurrency);
    this.probes = (registry.getSingleMetric('certctl_scan_probes_total') as Counter<'outcome'> | undefined)
      ?? new Counter({ name: 'certctl_scan_probes_total', help: 'TLS probes of network scans, by outcome', labelNames: ['outcome'], registers: [registry] });
    // Every outcome exists at zero from the first scrape, so the dashboard's panel and rate() have series before any scan.
    for (const outcome of PROBE_OUTCOMES) if (outcome !== 'aborted') this.probes.inc({ outcome }, 0);
  }

  /** Plans the scan and enqueues its shards. Safe to run again: shard job ids are derived from the scan id. */
  async plan(data: JobMap['network-scan.run']): Promise<{ shards: number }> {
    const scan = await this.dataSource.manager.findOneBy(DiscoveryScanEntity, { id: data.scanId });
    if (!scan || (scan.status !== 'Pending' && scan.status !== 'Running')) return { shards: 0 };
    const { total } = this.rangesOf(scan);
    const shards = Math.ceil(total / this.config.networkScan.shardSize);
    const [, updated] = await this.dataSource.query(
      `UPDATE discovery_scans SET status = 'Running', started_at = COALESCE(started_at, now()), addresses_total = $2,
              shards_total = $3, updated_at = now()
        WHERE id = $1 AND status IN ('Pending', 'Running')`, [scan.id, total, shards]);
    if (!updated) return { shards: 0 }; // cancelled meanwhile
    const jobs = Array.from({ length: shards }, (_, shardIndex) => ({
      name: 'network-scan.shard' as const,
      data: { scanId: scan.id, shardIndex, correlationId: data.correlationId } satisfies JobMap['network-scan.shard'],
      opts: { ...DEFAULT_JOB_OPTIONS[Queue.Scan], jobId: queueJobId('network-scan.shard', `${scan.id}.${shardIndex}`) },
    }));
    for (let i = 0; i < jobs.length; i += 500) await this.producer.queue(Queue.Scan).addBulk(jobs.slice(i, i + 500));
    this.logger.log({ scanId: scan.id, addresses: total, shards }, 'network scan planned');
    return { shards };
  }

  /** Probes one shard's addresses on every port (and SNI name), feeding certificates to the pipeline as it goes. */
  async runShard(data: JobMap['network-scan.shard']): Promise<ShardProgress> {
    const scan = await this.dataSource.manager.findOneBy(DiscoveryScanEntity, { id: data.scanId });
    if (!scan || scan.status !== 'Running') return { done: 0, found: 0, errors: 0 };
    const { ranges, total } = this.rangesOf(scan);
    const size = this.config.networkScan.shardSize;
    const addresses = addressesBetween(ranges, data.shardIndex * size, Math.min(total, (data.shardIndex + 1) * size));
    const names: Array<string | undefined> = scan.sni_hostnames.length ? scan.sni_hostnames : [undefined];
    const perAddress = scan.ports.length * names.length;
    const limiter = new ScanRateLimiter(this.redis, `${this.config.redis.queuePrefix}:scan-rate:${scan.id}`,
      scan.rate_limit_per_second || this.config.networkScan.rateLimitPerSecond);
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // one listener per probe in flight
    this.running.add(abort);
    const state: ShardState = { done: 0, found: 0, errors: 0, kinds: {}, replica: this.replica };
    const foundKeys = new Set<string>();
    let pending: DiscoveredCertificateInput[] = [];

    const ingestPending = async () => {
      const batch = pending;
      pending = [];
      try {
        if (batch.length) await this.pipeline.ingest(scan.id, SERVER_SCANNER_AGENT_ID, batch, data.correlationId);
      } catch (err) {
        pending = batch.concat(pending); // kept for the next flush (the upsert makes a repeat harmless)
        throw err;
      }
    };
    const flush = async (complete: boolean) => {
      await ingestPending();
      return this.writeProgress(scan.id, data.shardIndex, { ...state, complete });
    };
    let flushing: Promise<unknown> = Promise.resolve();
    const ticker = setInterval(() => {
      flushing = flushing.then(() => flush(false)).then((row) => {
        if (row?.status !== 'Running') abort.abort(); // cancelled (or failed) elsewhere: stop probing
      }).catch((err: unknown) => this.logger.warn({ err: (err as Error).message, scanId: scan.id }, 'progress write failed'));
    }, FLUSH_INTERVAL_MS);

    try {
      const inFlight = new Set<Promise<void>>();
      for (const address of addresses) {
        let left = perAddress;
        for (const port of scan.ports) {
          for (const servername of names) {
            if (abort.signal.aborted) break;
            await limiter.take(abort.signal);
            await this.sockets.acquire();
            const probe = probeTls(address, port, {
              servername, connectTimeoutMs: scan.timeout_ms, handshakeTimeoutMs: scan.timeout_ms, signal: abort.signal,
              secureContext: this.secureContext, handshakeSlots: this.handshakes,
            }).then((result) => {
              if (result.chain) {
                // throws on a certificate that does not parse: counted as a TLS error below
                const item = describeDiscovered(result.chain, `${address}:${port}`, 'network');
                const key = `${item.fingerprint_sha256}|${item.source_path}`;
                if (!foundKeys.has(key)) {
                  foundKeys.add(key);
                  state.found++;
                  pending.push(item);
                }
              }
              this.count(state, result.outcome);
            }).catch((err: unknown) => this.count(state, 'tls', `unreadable certificate: ${(err as Error).message}`))
              .finally(() => {
                this.sockets.release();
                if (--left === 0) state.done++;
                inFlight.delete(probe);
              });
            inFlight.add(probe);
          }
        }
      }
      await Promise.all(inFlight);
    } finally {
      clearInterval(ticker);
      this.running.delete(abort);
      await flushing;
    }
    if (abort.signal.aborted) {
      await ingestPending(); // what was found before the cancel or shutdown is still worth keeping
      // Shutting down: fail this attempt so another replica runs the shard again (its progress is replaced).
      if (this.stopping) throw new Error(`scanner ${this.replica} stopped while running shard ${data.shardIndex}`);
      return state;
    }
    const row = await flush(true);
    if (row && row.status === 'Running' && row.shards_done >= row.shards_total) await this.complete(scan.id);
    return state;
  }

  /**
   * SIGTERM: running shards stop probing at once instead of holding the shutdown for minutes, and are retried
   * by another replica. Runs before the queue workers close, which then wait only for the shards to give up.
   */
  beforeApplicationShutdown(): void {
    this.stopping = true;
    for (const abort of this.running) abort.abort();
  }

  /** Marks the scan Failed when a shard gives up for good. */
  async fail(scanId: string, reason: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE discovery_scans SET status = 'Failed', last_error = $2, completed_at = now(),
              scan_duration_ms = (EXTRACT(EPOCH FROM now() - COALESCE(started_at, created_at)) * 1000)::int, updated_at = now()
        WHERE id = $1 AND status IN ('Pending', 'Running')`, [scanId, reason.slice(0, 1000)]);
  }

  private rangesOf(scan: DiscoveryScanEntity) {
    try {
      // Checked again here, with the scanner's own configuration, before any packet is sent.
      return parseTargetRanges(scan.directories, this.config.networkScan);
    } catch (err) {
      if (err instanceof ScanRangeError) {
        void this.fail(scan.id, err.message);
        throw new UnrecoverableError(err.message);
      }
      throw err;
    }
  }

  private count(state: ShardState, outcome: ProbeOutcome, message?: string) {
    if (outcome === 'aborted') return;
    this.probes.inc({ outcome });
    if (outcome === 'certificate') return;
    state.kinds[outcome] = (state.kinds[outcome] ?? 0) + 1;
    if (isProbeError(outcome)) state.errors++;
    if (message) this.logger.debug({ message }, 'probe error');
  }

  /** Replaces this shard's contribution to the scan's counters (a retried shard starts from zero again). */
  private async writeProgress(scanId: string, shardIndex: number, progress: ShardState & { complete: boolean }) {
    const key = String(shardIndex);
    // TypeORM answers an UPDATE with [rows, count].
    const [rows]: [Array<{ status: string; shards_done: number; shards_total: number }>, number] = await this.dataSource.query(
      `UPDATE discovery_scans SET
          addresses_done = addresses_done - COALESCE((shard_progress->$2->>'done')::int, 0) + $3,
          certificates_found = certificates_found - COALESCE((shard_progress->$2->>'found')::int, 0) + $4,
          errors_count = errors_count - COALESCE((shard_progress->$2->>'errors')::int, 0) + $5,
          shards_done = shards_done + CASE WHEN $6::boolean AND NOT COALESCE((shard_progress->$2->>'complete')::boolean, false) THEN 1 ELSE 0 END,
          shard_progress = jsonb_set(shard_progress, ARRAY[$2::text], $7::jsonb),
          updated_at = now()
        WHERE id = $1 AND NOT COALESCE((shard_progress->$2->>'complete')::boolean, false)
        RETURNING status, shards_done, shards_total`,
      [scanId, key, progress.done, progress.found, progress.errors, progress.complete, JSON.stringify(progress)]);
    return rows[0] ?? (await this.dataSource.manager.findOneBy(DiscoveryScanEntity, { id: scanId }));
  }

  /** The last shard is in: the scan is Completed, the target's last-scan figures are written, and it is audited. */
  private async complete(scanId: string): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      const [rows] = await tx.query(
        `UPDATE discovery_scans SET status = 'Completed', completed_at = now(),
                scan_duration_ms = (EXTRACT(EPOCH FROM now() - started_at) * 1000)::int,
                error_summary = COALESCE((SELECT jsonb_object_agg(kind, n) FROM (
                    SELECT k.key AS kind, sum(k.value::int) AS n FROM jsonb_each(shard_progress) s, jsonb_each_text(s.value->'kinds') k
                     GROUP BY k.key) t), '{}'::jsonb),
                updated_at = now()
          WHERE id = $1 AND status = 'Running' RETURNING *`, [scanId]) as [DiscoveryScanEntity[], number];
      const scan = rows[0];
      if (!scan) return;
      if (scan.network_scan_target_id) {
        await tx.update(NetworkScanTargetEntity, { id: scan.network_scan_target_id }, {
          last_scan_at: scan.completed_at!, last_scan_duration_ms: scan.scan_duration_ms, last_scan_certs_found: scan.certificates_found,
        });
      }
      await this.pipeline.audit(tx, SERVER_SCANNER_AGENT_ID, 'System', scanId, {
        network_scan_target_id: scan.network_scan_target_id, addresses: scan.addresses_total, certificates_found: scan.certificates_found,
        certificates_new: scan.certificates_new, errors: scan.errors_count, duration_ms: scan.scan_duration_ms,
      });
      this.logger.log({ scanId, addresses: scan.addresses_total, found: scan.certificates_found, errors: scan.errors_count, ms: scan.scan_duration_ms }, 'network scan completed');
    });
  }
}
