import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { HEALTH_STATUSES } from '@certctl/contracts';
import { METRICS_REGISTRY } from '@certctl/observability';

/**
 * The scanner's health-check families on its /metrics: checks by status (read from PostgreSQL on each scrape,
 * so every replica reports the same cluster-wide figure: aggregate with max), probe durations and transitions
 * counted by the replica that probed (aggregate with sum).
 */
@Injectable()
export class HealthCheckMetrics {
  readonly probeDuration: Histogram<'outcome'>;
  readonly transitions: Counter<'from' | 'to'>;
  readonly probes: Counter<'outcome'>;

  constructor(@InjectDataSource() dataSource: DataSource, @Inject(METRICS_REGISTRY) registry: Registry) {
    this.probeDuration = new Histogram({
      name: 'certctl_health_check_probe_duration_seconds', help: 'TLS health-check probes: connect and handshake time, by outcome',
      labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
    });
    this.transitions = new Counter({
      name: 'certctl_health_check_transitions_total', help: 'Health-check status changes recorded by this scanner',
      labelNames: ['from', 'to'], registers: [registry],
    });
    // Every transition exists at zero from the first scrape, so increase() sees the first change (and the alert has series).
    for (const from of HEALTH_STATUSES) for (const to of HEALTH_STATUSES) if (from !== to) this.transitions.inc({ from, to }, 0);
    this.probes = new Counter({
      name: 'certctl_health_check_probes_total', help: 'Health-check probes run by this scanner, by outcome', labelNames: ['outcome'], registers: [registry],
    });
    new Gauge({
      name: 'certctl_health_check_status', help: 'Endpoint health checks by status (enabled checks, cluster-wide)', labelNames: ['status'],
      registers: [registry],
      async collect() {
        const rows: Array<{ status: string; n: string }> = await dataSource.query(
          `SELECT status, count(*) AS n FROM endpoint_health_checks WHERE enabled GROUP BY status`);
        const counts = new Map(rows.map((r) => [r.status, Number(r.n)]));
        for (const status of HEALTH_STATUSES) this.set({ status }, counts.get(status) ?? 0);
      },
    });
  }
}
