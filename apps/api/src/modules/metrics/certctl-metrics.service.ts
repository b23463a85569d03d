import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Counter, Gauge, Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { NOTIFICATION_CHANNELS } from '@certctl/contracts';
import { DEPLOY_COUNTERS } from '@certctl/deploy';
import { CRL_COUNTER, CRL_COUNTER_LABELS, defineBudgetGauges, OCSP_COUNTER, OCSP_COUNTER_LABELS } from '@certctl/issuers';
import { ACME_OPS } from '@certctl/acme-server';
import { ClusterCounters, CounterSample } from '@certctl/observability';
import { InventoryCounts, StatsService, StatsSummary } from '../stats/stats.service';

/** certctl's JSON metrics (spec §8.1). */
export interface CertctlMetrics {
  gauge: {
    certificate_total: number;
    certificate_active: number;
    certificate_expiring_soon: number;
    certificate_expired: number;
    certificate_revoked: number;
    agent_total: number;
    agent_online: number;
    job_pending: number;
  };
  counter: { job_completed_total: number; job_failed_total: number; notifications_dead_total: number };
  uptime: { uptime_seconds: number; server_started: string; measured_at: string };
  /** certctl_ocsp_counter_total and certctl_crl_counter_total by label, cluster-wide, every label present. */
  ocsp: Record<(typeof OCSP_COUNTER_LABELS)[number], number>;
  crl: Record<(typeof CRL_COUNTER_LABELS)[number], number>;
}

const SENT_COUNTER = 'certctl_notification_sent_total';
const FAILURE_COUNTER = 'certctl_notification_failures_total';
/** Incremented by the notifier each time it dead-letters a notification; requeues never lower it. */
const DEAD_COUNTER = 'certctl_notification_dead_total';

/** Every label combination of each deploy family, per target type (certctl's per-type buckets). */
const DEPLOY_SERIES: Record<string, Array<Record<string, string>>> = {
  [DEPLOY_COUNTERS.attempts]: [{ result: 'success' }, { result: 'failure' }],
  [DEPLOY_COUNTERS.validateFailures]: [{}],
  [DEPLOY_COUNTERS.reloadFailures]: [{}],
  [DEPLOY_COUNTERS.postVerifyFailures]: [{}],
  [DEPLOY_COUNTERS.rollbacks]: [{ outcome: 'restored' }, { outcome: 'also_failed' }],
  [DEPLOY_COUNTERS.idempotentSkips]: [{}],
};

interface Snapshot {
  at: number;
  summary: InventoryCounts;
  counters: Map<string, number>;
  samples: CounterSample[];
  /** Target types in the inventory or in the deploy counters. */
  targetTypes: string[];
}

/**
 * The certctl_* families. Database-derived values come from the stats summary (one aggregate query, cached a
 * few seconds); the notification counters are cluster-wide values kept in Redis by the notifiers, so every api
 * replica answers the same. Exposed in certctl's JSON shape and, through a registry of their own (no process
 * metrics mixed in), as Prometheus text.
 */
@Injectable()
export class CertctlMetricsService {
  private readonly startedAt = new Date();
  private readonly registry = new Registry();
  private snapshot: Snapshot | undefined;
  private inFlight: Promise<Snapshot> | undefined;

  /** How long one snapshot serves scrapes (CERTCTL_READ_CACHE_TTL): scrapes from several Prometheus servers cost one query. */
  private readonly snapshotTtlMs: number;

  constructor(
    private readonly stats: StatsService,
    private readonly counters: ClusterCounters,
    @Inject(APP_CONFIG) config: AppConfig,
    @InjectDataSource() dataSource: DataSource,
  ) {
    this.snapshotTtlMs = config.server.readCacheTtlMs;
    this.defineFamilies();
    // Per-CA budgets, cluster-wide (counted in PostgreSQL at scrape time, as on every orchestrator's /metrics).
    defineBudgetGauges(this.registry, dataSource);
  }

  async json(): Promise<CertctlMetrics> {
    const snapshot = await this.current();
    return { ...toJson(snapshot.summary, this.startedAt), ocsp: labelled(snapshot.samples, OCSP_COUNTER, OCSP_COUNTER_LABELS), crl: labelled(snapshot.samples, CRL_COUNTER, CRL_COUNTER_LABELS) };
  }

  async prometheus(): Promise<string> {
    await this.current();
    return this.registry.metrics();
  }

  private current(): Promise<Snapshot> {
    if (this.snapshot && Date.now() - this.snapshot.at < this.snapshotTtlMs) return Promise.resolve(this.snapshot);
    this.inFlight ??= this.load().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async load(): Promise<Snapshot> {
    const [summary, samples, inventoryTypes] = await Promise.all([this.stats.counts(), this.counters.read(), this.stats.deployTargetTypes()]);
    const counters = new Map<string, number>();
    for (const s of samples) counters.set(`${s.name}|${s.labels.channel ?? ''}`, s.value);
    const counted = samples.filter((s) => s.name in DEPLOY_SERIES && s.labels.target_type).map((s) => s.labels.target_type!);
    const targetTypes = [...new Set([...inventoryTypes, ...counted])].sort();
    this.snapshot = { at: Date.now(), summary, counters, samples, targetTypes };
    return this.snapshot;
  }

  private defineFamilies(): void {
    const snap = () => this.snapshot!;
    const json = () => toJson(snap().summary, this.startedAt);
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({ name, help, registers: [this.registry], collect() { this.set(value()); } });
    // Counters whose value is a snapshot (of the database or of Redis): reset, then set to the current total.
    const snapshotCounter = (name: string, help: string, value: () => number) =>
      new Counter({ name, help, registers: [this.registry], collect() { this.reset(); this.inc(value()); } });
    const channelCounter = (name: string, help: string) =>
      new Counter({
        name, help, labelNames: ['channel'], registers: [this.registry],
        collect() {
          this.reset();
          for (const channel of NOTIFICATION_CHANNELS) this.inc({ channel }, snap().counters.get(`${name}|${channel}`) ?? 0);
        },
      });

    gauge('certctl_certificate_total', 'Total managed certificates (not archived)', () => json().gauge.certificate_total);
    gauge('certctl_certificate_active', 'Certificates neither expiring within 30 days, expired nor revoked', () => json().gauge.certificate_active);
    gauge('certctl_certificate_expiring_soon', 'Certificates expiring within 30 days', () => json().gauge.certificate_expiring_soon);
    gauge('certctl_certificate_expiring_7d', 'Certificates expiring within 7 days (not archived or revoked)', () => snap().summary.expiring_7d_certificates);
    gauge('certctl_certificate_expired', 'Expired certificates', () => json().gauge.certificate_expired);
    gauge('certctl_certificate_revoked', 'Revoked certificates', () => json().gauge.certificate_revoked);
    gauge('certctl_agent_total', 'Registered agents (not retired)', () => json().gauge.agent_total);
    gauge('certctl_agent_online', 'Online agents', () => json().gauge.agent_online);
    gauge('certctl_job_pending', 'Jobs waiting to run', () => json().gauge.job_pending);
    snapshotCounter('certctl_job_completed_total', 'Completed jobs', () => json().counter.job_completed_total);
    snapshotCounter('certctl_job_failed_total', 'Failed jobs', () => json().counter.job_failed_total);
    gauge('certctl_uptime_seconds', 'Seconds since this api process started', () => json().uptime.uptime_seconds);
    // certctl's name; a true counter here (dead-letterings, cluster-wide), so a requeue never makes it go down...
    snapshotCounter(DEAD_COUNTER, 'Notifications dead-lettered (every time), across all notifier processes', () => snap().counters.get(`${DEAD_COUNTER}|`) ?? 0);
    // ...and the rows dead right now, which requeues do lower, as a gauge of its own.
    gauge('certctl_notification_dead', 'Notifications currently dead (status dead), not yet requeued', () => json().counter.notifications_dead_total);
    channelCounter(SENT_COUNTER, 'Notifications delivered, by channel, across all notifier processes');
    channelCounter(FAILURE_COUNTER, 'Failed notification delivery attempts, by channel, across all notifier processes');
    this.defineDeployFamilies();
    this.defineLabelledFamily(OCSP_COUNTER, 'OCSP responder requests and outcomes by label, across all replicas', OCSP_COUNTER_LABELS, () => snap().samples);
    this.defineLabelledFamily(CRL_COUNTER, 'CRL builds and downloads by label, across all replicas', CRL_COUNTER_LABELS, () => snap().samples);
    // certctl's ACME server families (spec §8), counted by the responders and the orchestrator's validations.
    for (const op of ACME_OPS) {
      for (const name of [`certctl_acme_${op}_total`, `certctl_acme_${op}_failures_total`]) {
        snapshotCounter(name, `ACME server ${op} requests${name.endsWith('_failures_total') ? ' answered with a problem' : ''}, across all replicas`,
          () => snap().samples.filter((x) => x.name === name).reduce((sum, x) => sum + x.value, 0));
      }
    }
  }

  /** A counter with one series per fixed label, all present from the first scrape (zeros included), in that order. */
  private defineLabelledFamily(name: string, help: string, labels: readonly string[], samples: () => CounterSample[]): void {
    new Counter({
      name, help, labelNames: ['label'], registers: [this.registry],
      collect() {
        this.reset();
        const values = labelled(samples(), name, labels);
        for (const label of labels) this.inc({ label }, values[label as keyof typeof values] ?? 0);
      },
    });
  }

  /**
   * certctl's six deploy families (spec §5.3), counted by the orchestrator and by agents' reports, cluster-wide
   * in Redis. Every series of every family exists, at zero, for each target type in the inventory or already
   * counted (certctl's per-type buckets), so `increase()` sees the first failure; sorted by target_type.
   */
  private defineDeployFamilies(): void {
    const snap = () => this.snapshot!;
    const family = (name: string, help: string, labelNames: string[]) =>
      new Counter({
        name, help, labelNames, registers: [this.registry],
        collect() {
          this.reset();
          const values = new Map<string, number>();
          for (const s of snap().samples.filter((x) => x.name === name)) {
            const labels = Object.fromEntries(labelNames.map((l) => [l, s.labels[l] ?? '']));
            values.set(JSON.stringify(labels), (values.get(JSON.stringify(labels)) ?? 0) + s.value);
          }
          for (const target_type of snap().targetTypes) {
            for (const extra of DEPLOY_SERIES[name]!) {
              const labels = { target_type, ...extra };
              const key = JSON.stringify(Object.fromEntries(labelNames.map((l) => [l, labels[l as keyof typeof labels] ?? ''])));
              if (!values.has(key)) values.set(key, 0);
            }
          }
          const sorted = [...values].map(([k, v]) => [JSON.parse(k) as Record<string, string>, v] as const)
            .sort(([a], [b]) => (a.target_type ?? '').localeCompare(b.target_type ?? '') || JSON.stringify(a).localeCompare(JSON.stringify(b)));
          for (const [labels, value] of sorted) this.inc(labels, value);
        },
      });
    family(DEPLOY_COUNTERS.attempts, 'Deployment attempts, by target type and result', ['target_type', 'result']);
    family(DEPLOY_COUNTERS.validateFailures, 'Deployments whose validate step rejected the new files', ['target_type']);
    family(DEPLOY_COUNTERS.reloadFailures, 'Deployments whose reload failed', ['target_type']);
    family(DEPLOY_COUNTERS.postVerifyFailures, 'Deployments whose post-deploy TLS verification failed', ['target_type']);
    family(DEPLOY_COUNTERS.rollbacks, 'Rollbacks after a failed reload or verification, by outcome', ['target_type', 'outcome']);
    family(DEPLOY_COUNTERS.idempotentSkips, 'Deployments skipped because the target already held the same bytes', ['target_type']);
  }
}

/** The values of a `{label}` counter family from the cluster counters, every label present. */
function labelled<L extends string>(samples: CounterSample[], name: string, labels: readonly L[]): Record<L, number> {
  const values = Object.fromEntries(labels.map((l) => [l, 0])) as Record<L, number>;
  for (const s of samples) if (s.name === name && s.labels.label !== undefined && s.labels.label in values) values[s.labels.label as L] = s.value;
  return values;
}

function toJson(s: StatsSummary, startedAt: Date): Omit<CertctlMetrics, 'ocsp' | 'crl'> {
  const now = new Date();
  return {
    gauge: {
      certificate_total: s.total_certificates,
      // upstream's definition: what is neither expiring, expired nor revoked
      certificate_active: Math.max(0, s.total_certificates - s.expiring_certificates - s.expired_certificates - s.revoked_certificates),
      certificate_expiring_soon: s.expiring_certificates,
      certificate_expired: s.expired_certificates,
      certificate_revoked: s.revoked_certificates,
      agent_total: s.total_agents,
      agent_online: s.active_agents,
      job_pending: s.pending_jobs,
    },
    counter: { job_completed_total: s.complete_jobs, job_failed_total: s.failed_jobs, notifications_dead_total: s.notifications_dead },
    uptime: {
      uptime_seconds: Math.floor((now.getTime() - startedAt.getTime()) / 1000),
      server_started: startedAt.toISOString(),
      measured_at: now.toISOString(),
    },
  };
}
