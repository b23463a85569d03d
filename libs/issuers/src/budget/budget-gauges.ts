import { Gauge, Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { budgetRemaining } from './issuer-budget';
import { effectiveRateLimits } from './rate-limits';

export const BUDGET_REMAINING_GAUGE = 'certctl_issuer_budget_remaining';
export const BUDGET_LIMIT_GAUGE = 'certctl_issuer_budget_limit';

/**
 * `certctl_issuer_budget_remaining{issuer_id,limit}` (slots left in the window; for a per-domain limit, in its
 * busiest registered domain) and `certctl_issuer_budget_limit{issuer_id,limit}`, for every enabled issuer with
 * rate limits, counted from Postgres at scrape time, so every replica (and the api) reports the cluster's truth.
 * Issuer ids are a small, operator-made set: a bounded label.
 */
export function defineBudgetGauges(registry: Registry, dataSource: DataSource): void {
  let pending: Promise<Array<{ issuer_id: string; limit: string; max: number; remaining: number }>> | undefined;
  // Both gauges are collected in one scrape: one query serves them.
  const read = () => {
    pending ??= (async () => {
      const issuers: Array<{ id: string; type: string; config: Record<string, unknown> }> = await dataSource.query(`SELECT id, type, config FROM issuers WHERE enabled ORDER BY id`);
      return budgetRemaining(dataSource, issuers.map((i) => ({ id: i.id, limits: effectiveRateLimits(i.type, i.config) })));
    })().finally(() => setTimeout(() => (pending = undefined), 0));
    return pending;
  };
  new Gauge({
    name: BUDGET_REMAINING_GAUGE, help: 'Issuances left in the CA rate limit window, per issuer and limit (busiest scope for per-domain limits)',
    labelNames: ['issuer_id', 'limit'], registers: [registry],
    async collect() {
      this.reset();
      for (const r of await read()) this.set({ issuer_id: r.issuer_id, limit: r.limit }, r.remaining);
    },
  });
  new Gauge({
    name: BUDGET_LIMIT_GAUGE, help: 'The CA rate limit per window, per issuer and limit (declared in config.rate_limits or the CA default)',
    labelNames: ['issuer_id', 'limit'], registers: [registry],
    async collect() {
      this.reset();
      for (const r of await read()) this.set({ issuer_id: r.issuer_id, limit: r.limit }, r.max);
    },
  });
}
