import { Client } from 'pg';

/**
 * A poor man's wait-event profile (no pg_stat_statements needed): polls pg_stat_activity for the client backends of
 * one database every `intervalMs` and reports how many backends were, on average, in each state / wait event, and
 * which statements (first characters) were the ones waiting on locks. By Little's law, "mean backends waiting on X"
 * is the rate of waits times their mean duration, so a category near the number of workers is the bottleneck.
 */
export interface ActivityProfile {
  samples: number;
  interval_ms: number;
  /** Mean number of backends per `application: state / wait_event_type:wait_event` (CPU = active, no wait event). */
  mean_backends: Record<string, number>;
  /** Mean number of backends waiting on a heavyweight lock, per statement prefix. */
  lock_waits_by_statement: Record<string, number>;
  /** Mean number of backends active (running or waiting) per statement prefix. */
  active_by_statement: Record<string, number>;
}

export class ActivitySampler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private samples = 0;
  private readonly byState = new Map<string, number>();
  private readonly lockWaits = new Map<string, number>();
  private readonly active = new Map<string, number>();

  constructor(
    private readonly db: Client,
    private readonly database: string,
    /** Backends whose application_name starts with this are the observer's own and are left out. */
    private readonly ignoreApplicationPrefix = 'certctl-bench',
    private readonly intervalMs = 100,
    private readonly prefixChars = 70,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return; // never queue up behind a slow poll
      this.running = this.poll().finally(() => (this.running = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<ActivityProfile> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    const mean = (m: Map<string, number>) =>
      Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round((v / Math.max(1, this.samples)) * 100) / 100]));
    return {
      samples: this.samples,
      interval_ms: this.intervalMs,
      mean_backends: mean(this.byState),
      lock_waits_by_statement: mean(this.lockWaits),
      active_by_statement: mean(this.active),
    };
  }

  private async poll(): Promise<void> {
    const { rows } = await this.db.query<{ app: string; state: string | null; wtype: string | null; wevent: string | null; stmt: string }>(
      `SELECT application_name AS app, state, wait_event_type AS wtype, wait_event AS wevent, regexp_replace(left(query, $2), '\\s+', ' ', 'g') AS stmt
         FROM pg_stat_activity
        WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND NOT starts_with(application_name, $3)`,
      [this.database, this.prefixChars, this.ignoreApplicationPrefix],
    );
    this.samples++;
    for (const row of rows) {
      const state = row.state ?? 'unknown';
      const wait = row.wtype ? `${row.wtype}:${row.wevent ?? ''}` : state === 'active' ? 'CPU' : '';
      const key = `${row.app || '?'}: ${wait && state !== 'idle' ? `${state} / ${wait}` : state}`;
      const stmt = `${row.app || '?'}: ${row.stmt}`;
      this.byState.set(key, (this.byState.get(key) ?? 0) + 1);
      if (state === 'active') this.active.set(stmt, (this.active.get(stmt) ?? 0) + 1);
      if (row.wtype === 'Lock') this.lockWaits.set(stmt, (this.lockWaits.get(stmt) ?? 0) + 1);
    }
  }
}
