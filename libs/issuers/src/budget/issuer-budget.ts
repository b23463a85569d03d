import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { RateLimit, scopeKeysOf } from './rate-limits';

/** Marks a window set as complete: rebuilt from Postgres (or new) since Redis last lost it. Scored +inf, so never pruned. */
const SEEDED = '~seeded';

/**
 * One atomic check-and-take across every window a job spends from (all replicas share it: Redis runs one script at
 * a time). KEYS: the n window sets, then their n waiting lists. ARGV: now, member, then per window its limit and
 * length (ms), then seed triples (window index, score, member) read from Postgres. A window without the SEEDED mark
 * is answered with {-1} unless seeds were given: the caller then reads Postgres and asks again. Answers {1} (taken)
 * or {0, wakeAtMs, windowIndex}.
 *
 * A refused member joins the window's waiting list (first refusal first) and is told when its own turn should come,
 * not merely when the next slot frees: waiter p gets the (p mod limit)-th slot to free, p div limit windows later.
 * A thousand renewals waiting on one budget so wake a few at a time instead of all at every freed slot. The list
 * only spreads wake-ups; whoever asks when a slot is free gets it.
 */
const TAKE = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS / 2
local seeding = ARGV[#ARGV] == 'seed'
for k = 1, n do
  if not redis.call('ZSCORE', KEYS[k], '${SEEDED}') then
    if not seeding then return {-1} end
    redis.call('ZADD', KEYS[k], '+inf', '${SEEDED}')
    redis.call('PEXPIRE', KEYS[k], ARGV[2 + 2 * k])
    local i = 3 + 2 * n
    while i + 2 <= #ARGV do
      if tonumber(ARGV[i]) == k then redis.call('ZADD', KEYS[k], ARGV[i + 1], ARGV[i + 2]) end
      i = i + 3
    end
  end
end
local wakeAt = 0
local full = 0
for k = 1, n do
  local limit = tonumber(ARGV[1 + 2 * k])
  local window = tonumber(ARGV[2 + 2 * k])
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - window)
  redis.call('ZREM', KEYS[k], member)
  local used = redis.call('ZCARD', KEYS[k]) - 1
  if used >= limit then
    local waiting = KEYS[n + k]
    redis.call('ZADD', waiting, 'NX', now, member)
    local p = redis.call('ZRANK', waiting, member)
    local slot = redis.call('ZRANGE', KEYS[k], used - limit + (p % limit), used - limit + (p % limit), 'WITHSCORES')
    local at = tonumber(slot[2]) + window * (1 + math.floor(p / limit))
    redis.call('PEXPIRE', waiting, at - now + window)
    if at > wakeAt then wakeAt = at; full = k end
  end
end
if wakeAt > 0 then return {0, tostring(wakeAt), full} end
for k = 1, n do
  redis.call('ZADD', KEYS[k], now, member)
  redis.call('PEXPIRE', KEYS[k], ARGV[2 + 2 * k])
  redis.call('ZREM', KEYS[n + k], member)
end
return {1}
`;

/** Spent slots stay in Postgres at least this long, even for shorter windows. */
const SPENDS_KEPT_AT_LEAST_MS = 24 * 3600 * 1000;

/** Refused: `freeAt` is when a slot should be free for this attempt (its turn among those waiting), `limit` the full one. */
export type BudgetDecision = { granted: true } | { granted: false; freeAt: Date; limit: string };

interface Window {
  limit: RateLimit;
  scopeKey: string;
  redisKey: string;
}

/**
 * The per-CA budget shared by every orchestrator replica. Redis decides (one Lua script: sliding windows in sorted
 * sets, checked and taken atomically); Postgres remembers (`issuer_budget_spends`, one row per slot). The row is
 * written BEFORE Redis is asked, and deleted again if Redis refuses, so whenever Redis has lost a window (flush,
 * restart without persistence, eviction) it is rebuilt from rows that include every slot granted so far: a lost
 * Redis can make a job wait longer than needed (a refused attempt's row read before it was deleted), never let one
 * through that the CA would refuse. Times are this process's clock (`now`, injectable for tests); replicas' clocks
 * should agree to well under a window.
 */
export class IssuerBudget {
  private readonly reservedBy = `${hostname()}:${process.pid}`;

  constructor(
    private readonly redis: Redis,
    private readonly dataSource: DataSource,
    private readonly keyPrefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes one slot of every limit (and scope) this issuance spends from, or none: `member` names the attempt (job id
   * and attempt number), so a repeated call for the same attempt does not take two.
   */
  async take(issuerId: string, limits: readonly RateLimit[], names: readonly string[], member: string): Promise<BudgetDecision> {
    const windows = this.windowsOf(issuerId, limits, names);
    if (!windows.length) return { granted: true };
    const now = this.now();
    // Rows first (see the class comment). Rows of these windows older than the window (and than a day: what was
    // spent stays readable for a while) go at the same time.
    await this.dataSource.query(
      `WITH pruned AS (
         DELETE FROM issuer_budget_spends s USING unnest($2::text[], $3::text[], $4::bigint[]) AS w(limit_name, scope_key, window_ms)
          WHERE s.issuer_id = $1 AND s.limit_name = w.limit_name AND s.scope_key = w.scope_key
            AND s.spent_at <= to_timestamp(($5::bigint - GREATEST(w.window_ms, $8::bigint)) / 1000.0)
       )
       INSERT INTO issuer_budget_spends (issuer_id, limit_name, scope_key, member, spent_at, reserved_by)
       SELECT $1, w.limit_name, w.scope_key, $6, to_timestamp($5::bigint / 1000.0), $7
         FROM unnest($2::text[], $3::text[]) AS w(limit_name, scope_key)`,
      [issuerId, windows.map((w) => w.limit.name), windows.map((w) => w.scopeKey), windows.map((w) => w.limit.window_seconds * 1000), now, member, this.reservedBy, SPENDS_KEPT_AT_LEAST_MS],
    );
    const keys = [...windows.map((w) => w.redisKey), ...windows.map((w) => `${w.redisKey}:waiting`)];
    const args: Array<string | number> = [now, member, ...windows.flatMap((w) => [w.limit.limit, w.limit.window_seconds * 1000])];
    let answer = (await this.redis.eval(TAKE, keys.length, ...keys, ...args)) as [number, string?, number?];
    if (answer[0] === -1) answer = (await this.redis.eval(TAKE, keys.length, ...keys, ...args, ...(await this.seeds(issuerId, windows, now)), 'seed')) as typeof answer;
    if (answer[0] === 1) return { granted: true };
    await this.dataSource.query(`DELETE FROM issuer_budget_spends WHERE issuer_id = $1 AND member = $2`, [issuerId, member]);
    return { granted: false, freeAt: new Date(Number(answer[1])), limit: windows[Number(answer[2]) - 1]!.limit.name };
  }

  /** Seed triples (key index, score, member) of the slots Postgres holds for these windows, this attempt's own included. */
  private async seeds(issuerId: string, windows: Window[], now: number): Promise<Array<string | number>> {
    const rows: Array<{ i: number; at: string; member: string }> = await this.dataSource.query(
      `SELECT w.i::int AS i, (extract(epoch FROM s.spent_at) * 1000)::bigint::text AS at, s.member
         FROM unnest($2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS w(limit_name, scope_key, window_ms, i)
         JOIN issuer_budget_spends s ON s.issuer_id = $1 AND s.limit_name = w.limit_name AND s.scope_key = w.scope_key
          AND s.spent_at > to_timestamp(($5::bigint - w.window_ms) / 1000.0)`,
      [issuerId, windows.map((w) => w.limit.name), windows.map((w) => w.scopeKey), windows.map((w) => w.limit.window_seconds * 1000), now],
    );
    return rows.flatMap((r) => [r.i, r.at, r.member]);
  }

  private windowsOf(issuerId: string, limits: readonly RateLimit[], names: readonly string[]): Window[] {
    // One hash tag per issuer: every set a script touches lives in one Redis Cluster slot.
    return limits.flatMap((limit) => scopeKeysOf(limit, names).map((scopeKey) => ({
      limit, scopeKey, redisKey: `${this.keyPrefix}:{budget:${issuerId}}:${limit.name}:${scopeKey}`,
    })));
  }
}

export interface BudgetRemaining {
  issuer_id: string;
  limit: string;
  per: string;
  max: number;
  /** What is left in the fullest scope (the busiest registered domain, for a per-domain limit). */
  remaining: number;
}

/**
 * Remaining budget per issuer and limit, counted from Postgres (the same rows Redis is rebuilt from), for the
 * `certctl_issuer_budget_remaining` gauge of the orchestrator and the api.
 */
export async function budgetRemaining(
  dataSource: DataSource,
  issuers: Array<{ id: string; limits: readonly RateLimit[] }>,
  now = Date.now(),
): Promise<BudgetRemaining[]> {
  const flat = issuers.flatMap((i) => i.limits.map((l) => ({ issuer: i.id, limit: l })));
  if (!flat.length) return [];
  const rows: Array<{ i: number; used: number }> = await dataSource.query(
    `SELECT w.i::int AS i, COALESCE(max(c.n), 0)::int AS used
       FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS w(issuer_id, limit_name, window_ms, i)
       LEFT JOIN LATERAL (
         SELECT count(*) AS n FROM issuer_budget_spends s
          WHERE s.issuer_id = w.issuer_id AND s.limit_name = w.limit_name AND s.spent_at > to_timestamp(($4::bigint - w.window_ms) / 1000.0)
          GROUP BY s.scope_key
       ) c ON true
      GROUP BY w.i`,
    [flat.map((f) => f.issuer), flat.map((f) => f.limit.name), flat.map((f) => f.limit.window_seconds * 1000), now],
  );
  const used = new Map(rows.map((r) => [r.i, r.used]));
  return flat.map((f, i) => ({
    issuer_id: f.issuer, limit: f.limit.name, per: f.limit.per, max: f.limit.limit,
    remaining: Math.max(0, f.limit.limit - (used.get(i + 1) ?? 0)),
  }));
}
