import { Inject, Injectable, Optional } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import { ClusterCounters, METRICS_REGISTRY } from '@certctl/observability';

/** certctl's ACME server operations (spec §8): each has certctl_acme_<op>_total and certctl_acme_<op>_failures_total. */
export const ACME_OPS = [
  'directory', 'new_nonce', 'new_account', 'update_account', 'key_change', 'new_order', 'order_read', 'finalize_order',
  'authz_read', 'challenge_respond', 'challenge_validate', 'cert_download', 'revoke_cert', 'renewal_info',
] as const;
export type AcmeOp = (typeof ACME_OPS)[number];

/**
 * The ACME counters, registered at boot so every family is on the first scrape (at 0): this process's on its own
 * /metrics, and the same increments in Redis (ClusterCounters) for the api's cluster-wide
 * /api/v1/metrics/prometheus. `_total` counts requests, `_failures_total` those answered with a problem document.
 */
@Injectable()
export class AcmeMetrics {
  private readonly totals = new Map<AcmeOp, Counter>();
  private readonly failures = new Map<AcmeOp, Counter>();

  constructor(@Inject(METRICS_REGISTRY) registry: Registry, @Optional() private readonly cluster?: ClusterCounters) {
    for (const op of ACME_OPS) {
      this.totals.set(op, existing(registry, `certctl_acme_${op}_total`) ?? new Counter({ name: `certctl_acme_${op}_total`, help: `ACME ${op} requests`, registers: [registry] }));
      this.failures.set(op, existing(registry, `certctl_acme_${op}_failures_total`)
        ?? new Counter({ name: `certctl_acme_${op}_failures_total`, help: `ACME ${op} requests answered with a problem`, registers: [registry] }));
    }
  }

  count(op: AcmeOp, ok: boolean): void {
    this.totals.get(op)!.inc();
    void this.cluster?.increment(`certctl_acme_${op}_total`);
    if (!ok) {
      this.failures.get(op)!.inc();
      void this.cluster?.increment(`certctl_acme_${op}_failures_total`);
    }
  }
}

function existing(registry: Registry, name: string): Counter | undefined {
  return registry.getSingleMetric(name) as Counter | undefined;
}
