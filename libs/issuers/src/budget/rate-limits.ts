import { createHash } from 'node:crypto';
import { getDomain } from 'tldts';
import type { ConfigProblem } from '../issuer-config';

/**
 * Per-CA budgets: the rate limits an issuer declares in `config.rate_limits`, or, when it declares none, the
 * published limits of the ACME CA its directory URL names. `rate_limits: []` turns the defaults off.
 *
 * A limit counts issuance attempts (one ACME order each) per sliding window of `window_seconds`:
 * - `per: "account"` — every attempt of the issuer (Let's Encrypt's new orders per account);
 * - `per: "registered_domain"` — per registered domain (public suffix + 1 label) of each name in the certificate,
 *   so a certificate for a.example.com and b.example.org spends one slot of each (certificates per registered domain);
 * - `per: "exact_names"` — per exact set of names (duplicate certificates).
 */
export const RATE_LIMIT_SCOPES = ['account', 'registered_domain', 'exact_names'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

export interface RateLimit {
  /** Shown in the gauge's `limit` label and in a waiting job's reason. */
  name: string;
  limit: number;
  window_seconds: number;
  per: RateLimitScope;
}

const HOUR = 3600;
const WEEK = 7 * 24 * HOUR;

/**
 * Published limits of well-known ACME CAs, by directory URL (https://letsencrypt.org/docs/rate-limits/, as of
 * 2025). Only limits that are fixed numbers per account or per name are listed; an issuer's own
 * `config.rate_limits` replaces them (an account with raised limits, or a CA not listed here).
 */
export const KNOWN_CA_RATE_LIMITS: ReadonlyArray<{ ca: string; directoryUrls: readonly string[]; limits: readonly RateLimit[] }> = [
  {
    ca: "Let's Encrypt",
    directoryUrls: ['https://acme-v02.api.letsencrypt.org/directory'],
    limits: [
      { name: 'new_orders_per_account', limit: 300, window_seconds: 3 * HOUR, per: 'account' },
      { name: 'certificates_per_registered_domain', limit: 50, window_seconds: WEEK, per: 'registered_domain' },
      { name: 'certificates_per_exact_names', limit: 5, window_seconds: WEEK, per: 'exact_names' },
    ],
  },
];

export const MAX_RATE_LIMITS = 10;
/** One year: the longest window worth tracking (slots are kept this long in Redis and Postgres). */
export const MAX_WINDOW_SECONDS = 366 * 24 * HOUR;
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** The limits an issuer is held to: its own `config.rate_limits`, else its CA's published ones, else none. */
export function effectiveRateLimits(type: string, config: Record<string, unknown> | null | undefined): RateLimit[] {
  const declared = config?.rate_limits;
  if (Array.isArray(declared)) return declared as RateLimit[];
  if (type !== 'ACME' || typeof config?.directory_url !== 'string') return [];
  const url = normaliseUrl(config.directory_url);
  return [...(KNOWN_CA_RATE_LIMITS.find((k) => k.directoryUrls.some((u) => normaliseUrl(u) === url))?.limits ?? [])];
}

/** A 400 naming the field (`config.rate_limits[1].window_seconds`) for a limit that cannot be enforced. */
export function rateLimitsProblem(value: unknown): ConfigProblem | undefined {
  const field = 'config.rate_limits';
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return { field, message: 'must be a list of {name, limit, window_seconds, per}' };
  if (value.length > MAX_RATE_LIMITS) return { field, message: `at most ${MAX_RATE_LIMITS} limits` };
  const names = new Set<string>();
  for (const [i, item] of value.entries()) {
    const at = `${field}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return { field: at, message: 'must be an object {name, limit, window_seconds, per}' };
    const l = item as Record<string, unknown>;
    const unknown = Object.keys(l).find((k) => !['name', 'limit', 'window_seconds', 'per'].includes(k));
    if (unknown) return { field: `${at}.${unknown}`, message: 'is not a rate limit field (name, limit, window_seconds, per)' };
    if (typeof l.name !== 'string' || !NAME.test(l.name)) return { field: `${at}.name`, message: 'must be 1-63 lowercase letters, digits, "_", "-" or "."' };
    if (names.has(l.name)) return { field: `${at}.name`, message: `${l.name} is declared twice` };
    names.add(l.name);
    if (!Number.isInteger(l.limit) || (l.limit as number) <= 0 || (l.limit as number) > 1_000_000) {
      return { field: `${at}.limit`, message: 'must be a whole number between 1 and 1000000' };
    }
    if (!Number.isInteger(l.window_seconds) || (l.window_seconds as number) <= 0 || (l.window_seconds as number) > MAX_WINDOW_SECONDS) {
      return { field: `${at}.window_seconds`, message: `must be a whole number of seconds between 1 and ${MAX_WINDOW_SECONDS}` };
    }
    if (!(RATE_LIMIT_SCOPES as readonly unknown[]).includes(l.per)) return { field: `${at}.per`, message: `must be one of ${RATE_LIMIT_SCOPES.join(', ')}` };
  }
  return undefined;
}

/** The scopes one certificate's issuance spends a slot of, for one limit (one for account/exact_names, one per registered domain). */
export function scopeKeysOf(limit: RateLimit, names: readonly string[]): string[] {
  const lower = [...new Set(names.map((n) => n.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean))].sort();
  switch (limit.per) {
    case 'account':
      return ['account'];
    case 'exact_names':
      return [`names:${createHash('sha256').update(lower.join(',')).digest('hex').slice(0, 32)}`];
    case 'registered_domain':
      return [...new Set(lower.map(registeredDomainOf))].map((d) => `domain:${d}`);
  }
}

/** The registered domain of a DNS name (example.co.uk for a.b.example.co.uk); the name itself when it has none (an IP, a single label). */
export function registeredDomainOf(name: string): string {
  const bare = name.startsWith('*.') ? name.slice(2) : name;
  return getDomain(bare, { allowPrivateDomains: true }) ?? bare;
}

function normaliseUrl(url: string): string {
  return url.trim().replace(/\/+$/, '').toLowerCase();
}
