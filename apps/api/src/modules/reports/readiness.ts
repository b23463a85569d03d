/**
 * The pure parts of the readiness report: the CA/Browser Forum's SC-081 steps, how often a certificate renews at a
 * given lifetime, and whether a deployment target deploys without a person.
 */

/** SC-081's maximum public TLS lifetimes, each for certificates issued on or after its date. */
export const SC081_STEPS = [
  { key: 'sc081_2026', effective: '2026-03-15', max_days: 200 },
  { key: 'sc081_2027', effective: '2027-03-15', max_days: 100 },
  { key: 'sc081_2029', effective: '2029-03-15', max_days: 47 },
] as const;
export type StepKey = (typeof SC081_STEPS)[number]['key'];
/** `now` (the lifetime certificates get today) and each step. */
export const LIFETIME_KEYS = ['now', ...SC081_STEPS.map((s) => s.key)] as const;
export type LifetimeKey = (typeof LIFETIME_KEYS)[number];

/** Assumed when a certificate has neither a version nor a profile maximum: the CA/B Forum's limit before SC-081. */
export const DEFAULT_LIFETIME_DAYS = 398;
export const DAYS_PER_WEEK = 7;
export const DAYS_PER_YEAR = 365;

/**
 * Renewals a year of a certificate of `lifetimeDays` under a renewal window of `windowDays`: the sweep renews it
 * when the window opens, and the window is capped at a third of the lifetime (issue 22 item 1), so it is renewed
 * every `lifetime - min(window, lifetime / 3)` days.
 */
export function renewalsPerYear(lifetimeDays: number, windowDays: number): number {
  if (!(lifetimeDays > 0)) return 0;
  const interval = lifetimeDays - Math.min(Math.max(windowDays, 0), lifetimeDays / 3);
  return DAYS_PER_YEAR / interval;
}

/** The same in SQL, for aggregation in the database (`l` and `w` are SQL expressions in days). */
export function renewalsPerYearSql(l: string, w: string): string {
  return `CASE WHEN (${l}) > 0 THEN ${DAYS_PER_YEAR}.0 / ((${l}) - LEAST(GREATEST(${w}, 0), (${l}) / 3.0)) ELSE 0 END`;
}

/** A deployment target as the report sees it. */
export interface TargetFacts {
  id: string;
  name: string;
  type: string;
  enabled: boolean;
  agent_id: string | null;
  /** The target's config has a non-empty reload_command. */
  has_reload_command: boolean;
  /** Caddy's `mode` ("api" when absent). */
  mode: string | null;
}

/** How a target gets a new certificate live: the way it does it without a person, or null with why a person is needed. */
export function targetAutomation(t: TargetFacts): { automated: true; by: string } | { automated: false; reason: string } {
  if (!t.enabled) return { automated: false, reason: 'target disabled' };
  if (t.agent_id) return { automated: true, by: 'agent' };
  // Connectors whose peer loads the new certificate itself: an admin API or a Secret its consumers watch.
  if (t.type === 'Caddy' && (t.mode ?? 'api') === 'api') return { automated: true, by: 'caddy admin api' };
  if (t.type === 'KubernetesSecrets' || t.type === 'KubernetesSecret') return { automated: true, by: 'kubernetes secret' };
  if (t.has_reload_command) return { automated: true, by: 'reload_command' };
  // Postfix and Dovecot have a default reload (postfix reload, doveadm reload).
  if (t.type === 'Postfix' || t.type === 'Dovecot') return { automated: true, by: 'default reload' };
  return { automated: false, reason: `no agent and no reload_command: someone must reload ${t.type}` };
}

/** A CSV field: quoted when needed, and a leading formula character defused for spreadsheets. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : String(value);
  if (/^[=+\-@\t\r]/.test(s) && typeof value === 'string') s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
