import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { TtlCache } from '../../common/cache';
import { ApiError } from '../../common/http/api-error';
import { Page, pageOf } from '../../common/http/pagination';
import { CaaChecks, CaaVerdict } from './caa-checks';
import { ReadinessQuery } from './dto/readiness.dto';
import {
  csvField, DAYS_PER_WEEK, DAYS_PER_YEAR, DEFAULT_LIFETIME_DAYS, LIFETIME_KEYS, LifetimeKey, renewalsPerYearSql, SC081_STEPS, TargetFacts,
  targetAutomation,
} from './readiness';

type PerKey = Record<LifetimeKey, number>;

export interface ReadinessRow {
  certificate_id: string;
  name: string;
  common_name: string;
  status: string;
  team_id: string | null;
  issuer_id: string;
  issuer_name: string;
  issuer_type: string;
  /** From the newest version (not_after - not_before); null before the first issuance. */
  current_lifetime_days: number | null;
  /** The certificate profile's max_ttl in days; null when it sets none. */
  profile_max_days: number | null;
  renewal_window_days: number;
  /** `now`: the current lifetime (else the profile's maximum, else 398); each step: min(that, profile max, step). */
  lifetime_days: PerKey;
  renewals_per_year: PerKey;
  caa: CaaVerdict;
  deployment: {
    /** automated: every mapped target deploys without a person; manual: at least one does not; no_targets: nothing mapped. */
    mode: 'automated' | 'manual' | 'no_targets';
    targets: number;
    manual_targets: Array<{ id: string; name: string; type: string; reason: string }>;
  };
}

export interface ReadinessGroup {
  id: string | null;
  name: string | null;
  certificates: number;
  renewals_per_week: PerKey;
}

export interface ReadinessReport extends Page<ReadinessRow> {
  generated_at: Date;
  steps: Array<{ key: string; effective: string; max_days: number }>;
  /** Over every certificate matching the filters, not only this page. */
  totals: { certificates: number; renewals_per_week: PerKey };
  by_team: ReadinessGroup[];
  by_issuer: ReadinessGroup[];
}

interface BaseRow {
  id: string;
  name: string;
  common_name: string;
  sans: string[];
  status: string;
  team_id: string | null;
  issuer_id: string;
  issuer_name: string;
  issuer_type: string;
  current_days: number | null;
  profile_max_days: number | null;
  window_days: number;
  [k: `l_${string}` | `r_${string}`]: number;
}

type Groups = { total: number; totals: ReadinessReport['totals']; byTeam: ReadinessGroup[]; byIssuer: ReadinessGroup[] };

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Certificates the report covers: archived and revoked ones are never renewed. $1 team, $2 issuer (null: any). */
const IN_REPORT = `c.status NOT IN ('Archived', 'Revoked') AND ($1::text IS NULL OR c.team_id = $1) AND ($2::text IS NULL OR c.issuer_id = $2)`;
/** The lifetime in days of the newest version `nv`, and the maximum of the profile `pr` (null when it sets none). */
const CURRENT_DAYS = 'EXTRACT(EPOCH FROM nv.not_after - nv.not_before)::float8 / 86400';
const PROFILE_MAX_DAYS = 'NULLIF(pr.max_ttl_seconds, 0)::float8 / 86400';
/** The lifetime certificates get today: the current one, else the profile's maximum, else the pre-SC-081 limit. */
const BASE_DAYS = `COALESCE(${CURRENT_DAYS}, ${PROFILE_MAX_DAYS}, ${DEFAULT_LIFETIME_DAYS})`;
/** `c`'s renewal policy `p` and certificate profile `pr` (its own, else its policy's). */
const POLICY_AND_PROFILE = `
          LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
          LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)`;

/**
 * `l AS (…), r AS (…)` over a relation `b` with base_days, profile_max_days and window_days: lifetimes (l_*) and
 * renewals a year (r_*) now and at each step.
 */
function lifetimesAndRates(): string {
  const stepColumns = SC081_STEPS.map((s) => `LEAST(b.base_days, COALESCE(b.profile_max_days, ${s.max_days}), ${s.max_days}) AS l_${s.key}`);
  const rateColumns = LIFETIME_KEYS.map((k) => `${renewalsPerYearSql(`l.l_${k}`, 'l.window_days')} AS r_${k}`);
  return `l AS (
        SELECT b.*, b.base_days AS l_now, ${stepColumns.join(', ')} FROM b
      ), r AS (
        SELECT l.*, ${rateColumns.join(', ')} FROM l
      )`;
}

/**
 * GET /reports/readiness: how ready the inventory is for SC-081's shorter lifetimes. A page costs a page: the
 * per-certificate figures are computed in PostgreSQL for the requested page only (its ids picked first, by the name
 * index), and the per-team/issuer renewals a week come from one GROUP BY over the filtered set (see groups()). The CSV walks
 * the whole set by keyset (name, id), never by OFFSET. Archived and revoked certificates are left out: they are
 * never renewed.
 */
@Injectable()
export class ReadinessService {
  private readonly groupsCache: TtlCache<Groups>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly caa: CaaChecks, @Inject(APP_CONFIG) config: AppConfig) {
    this.groupsCache = new TtlCache(config.server.readCacheTtlMs, 100);
  }

  async report(query: ReadinessQuery): Promise<ReadinessReport> {
    await this.checkFilters(query);
    const { page, perPage, offset } = pageOf(query);
    const [rows, groups] = await Promise.all([this.pageRows(query, { limit: perPage, offset }), this.groups(query)]);
    return {
      data: await this.rowsOf(rows), total: groups.total, page, per_page: perPage, generated_at: new Date(),
      steps: SC081_STEPS.map((s) => ({ ...s })), totals: groups.totals, by_team: groups.byTeam, by_issuer: groups.byIssuer,
    };
  }

  /** Every matching certificate as CSV, one line each, in batches of 1,000 rows (each batch starts after the last one's name). */
  async *csv(query: ReadinessQuery): AsyncGenerator<string> {
    await this.checkFilters(query);
    const header = [
      'certificate_id', 'name', 'common_name', 'status', 'team_id', 'issuer_id', 'issuer_type', 'current_lifetime_days', 'profile_max_days',
      ...LIFETIME_KEYS.map((k) => `lifetime_days_${k}`), ...LIFETIME_KEYS.map((k) => `renewals_per_year_${k}`), 'caa', 'caa_detail',
      'deployment', 'manual_targets',
    ];
    yield `${header.join(',')}\r\n`;
    for (let after: BaseRow | undefined; ;) {
      const batch = await this.pageRows(query, { limit: 1000, after });
      const rows = await this.rowsOf(batch);
      if (!rows.length) return;
      yield rows.map((r) => [
        r.certificate_id, r.name, r.common_name, r.status, r.team_id, r.issuer_id, r.issuer_type, r.current_lifetime_days, r.profile_max_days,
        ...LIFETIME_KEYS.map((k) => r.lifetime_days[k]), ...LIFETIME_KEYS.map((k) => r.renewals_per_year[k]), r.caa.status, r.caa.detail ?? '',
        r.deployment.mode, r.deployment.manual_targets.map((t) => `${t.name} (${t.reason})`).join('; '),
      ].map(csvField).join(',')).join('\r\n') + '\r\n';
      if (rows.length < 1000) return;
      after = batch.at(-1);
    }
  }

  private async checkFilters(query: ReadinessQuery): Promise<void> {
    if (query.team_id && !(await this.dataSource.query('SELECT 1 FROM teams WHERE id = $1', [query.team_id])).length) {
      throw ApiError.notFound('team', query.team_id);
    }
    if (query.issuer_id && !(await this.dataSource.query('SELECT 1 FROM issuers WHERE id = $1', [query.issuer_id])).length) {
      throw ApiError.notFound('issuer', query.issuer_id);
    }
  }

  /**
   * One page of certificates (by name, id) with their lifetimes (l_*) and renewals a year (r_*) now and at each step:
   * the page's certificates are chosen first, so the newest-version lookups and the arithmetic run for them alone.
   * `offset` for the JSON pages, `after` (the previous batch's last row) for the CSV.
   */
  private pageRows(query: ReadinessQuery, at: { limit: number; offset?: number; after?: Pick<BaseRow, 'name' | 'id'> }): Promise<BaseRow[]> {
    const params: unknown[] = [query.team_id ?? null, query.issuer_id ?? null, at.limit, at.offset ?? 0];
    if (at.after) params.push(at.after.name, at.after.id);
    return this.dataSource.query<BaseRow[]>(
      `WITH page AS (
        SELECT c.* FROM managed_certificates c
         WHERE ${IN_REPORT} ${at.after ? 'AND (c.name, c.id) > ($5::text, $6::text)' : ''}
         ORDER BY c.name, c.id LIMIT $3 OFFSET $4
      ), b AS (
        SELECT c.id, c.name, c.common_name, c.sans, c.status, c.team_id, c.issuer_id, i.name AS issuer_name, i.type AS issuer_type,
               ${CURRENT_DAYS} AS current_days, ${PROFILE_MAX_DAYS} AS profile_max_days,
               COALESCE(p.renewal_window_days, 30) AS window_days, ${BASE_DAYS} AS base_days
          FROM page c
          JOIN issuers i ON i.id = c.issuer_id ${POLICY_AND_PROFILE}
          LEFT JOIN LATERAL (SELECT v.not_before, v.not_after FROM certificate_versions v WHERE v.certificate_id = c.id
                              ORDER BY v.created_at DESC, v.id DESC LIMIT 1) nv ON true
      ), ${lifetimesAndRates()}
      SELECT * FROM r ORDER BY name, id`,
      params,
    );
  }

  /**
   * Renewals a week per team and per issuer, and the totals, over the whole filtered set, in one statement: the
   * newest version of every certificate by a hash anti-join (not a lookup per certificate), certificates alike in
   * team, issuer, policy, profile and current lifetime counted together, the rates computed per such kind (a few
   * dozen rows, not one per certificate), then summed by team, by issuer and overall (GROUPING SETS). Reused for
   * CERTCTL_READ_CACHE_TTL per filter, as the certificate list's totals are, so paging through the report pays it once.
   */
  private groups(query: ReadinessQuery): Promise<Groups> {
    return this.groupsCache.get(JSON.stringify([query.team_id ?? null, query.issuer_id ?? null]), () => this.computeGroups(query));
  }

  private async computeGroups(query: ReadinessQuery): Promise<Groups> {
    const sums = LIFETIME_KEYS.map((k) => `sum(r.n * r.r_${k}) * ${DAYS_PER_WEEK}.0 / ${DAYS_PER_YEAR} AS w_${k}`).join(', ');
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `WITH k AS (
        SELECT c.team_id, c.issuer_id, c.renewal_policy_id, c.certificate_profile_id, ${CURRENT_DAYS} AS current_days, count(*) AS n
          FROM managed_certificates c
          LEFT JOIN certificate_versions nv ON nv.certificate_id = c.id
               AND NOT EXISTS (SELECT 1 FROM certificate_versions newer WHERE newer.certificate_id = nv.certificate_id
                                  AND (newer.created_at, newer.id) > (nv.created_at, nv.id))
         WHERE ${IN_REPORT}
         GROUP BY 1, 2, 3, 4, 5
      ), b AS (
        SELECT c.team_id, c.issuer_id, c.n, ${PROFILE_MAX_DAYS} AS profile_max_days, COALESCE(p.renewal_window_days, 30) AS window_days,
               COALESCE(c.current_days, ${PROFILE_MAX_DAYS}, ${DEFAULT_LIFETIME_DAYS}) AS base_days -- BASE_DAYS, from the folded rows
          FROM k c ${POLICY_AND_PROFILE}
      ), ${lifetimesAndRates()}
       SELECT CASE WHEN GROUPING(r.team_id) = 0 THEN 'team' WHEN GROUPING(r.issuer_id) = 0 THEN 'issuer' ELSE 'total' END AS kind,
              CASE WHEN GROUPING(r.team_id) = 0 THEN r.team_id ELSE r.issuer_id END AS id,
              sum(r.n)::int AS certificates, ${sums}
         FROM r GROUP BY GROUPING SETS ((r.team_id), (r.issuer_id), ())`,
      [query.team_id ?? null, query.issuer_id ?? null],
    );
    const weekly = (row: Record<string, unknown>) => Object.fromEntries(LIFETIME_KEYS.map((k) => [k, round(Number(row[`w_${k}`] ?? 0), 3)])) as PerKey;
    const teamIds = rows.filter((r) => r.kind === 'team' && r.id).map((r) => r.id as string);
    const issuerIds = rows.filter((r) => r.kind === 'issuer').map((r) => r.id as string);
    const [teams, issuers] = await Promise.all([
      this.dataSource.query<Array<{ id: string; name: string }>>('SELECT id, name FROM teams WHERE id = ANY($1)', [teamIds]),
      this.dataSource.query<Array<{ id: string; name: string }>>('SELECT id, name FROM issuers WHERE id = ANY($1)', [issuerIds]),
    ]);
    const nameOf = new Map([...teams, ...issuers].map((r) => [r.id, r.name]));
    const group = (r: Record<string, unknown>): ReadinessGroup => ({
      id: (r.id as string | null) ?? null, name: r.id ? nameOf.get(r.id as string) ?? null : null, certificates: r.certificates as number, renewals_per_week: weekly(r),
    });
    const byWeekly = (a: ReadinessGroup, b: ReadinessGroup) => b.renewals_per_week.now - a.renewals_per_week.now || String(a.id).localeCompare(String(b.id));
    const total = rows.find((r) => r.kind === 'total');
    return {
      total: (total?.certificates as number) ?? 0,
      totals: { certificates: (total?.certificates as number) ?? 0, renewals_per_week: total ? weekly(total) : weekly({}) },
      byTeam: rows.filter((r) => r.kind === 'team').map(group).sort(byWeekly),
      byIssuer: rows.filter((r) => r.kind === 'issuer').map(group).sort(byWeekly),
    };
  }

  /** The page's rows with their targets (one statement for the page) and CAA verdicts. */
  private async rowsOf(rows: BaseRow[]): Promise<ReadinessRow[]> {
    if (!rows.length) return [];
    const targets: Array<TargetFacts & { certificate_id: string }> = await this.dataSource.query(
      `SELECT m.certificate_id, t.id, t.name, t.type, t.enabled, t.agent_id, COALESCE(t.config->>'reload_command', '') <> '' AS has_reload_command,
              t.config->>'mode' AS mode
         FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id AND t.retired_at IS NULL
        WHERE m.certificate_id = ANY($1::text[]) ORDER BY t.name, t.id`,
      [rows.map((r) => r.id)],
    );
    const targetsOf = new Map<string, TargetFacts[]>();
    for (const t of targets) targetsOf.set(t.certificate_id, [...(targetsOf.get(t.certificate_id) ?? []), t]);
    const verdicts = await this.caa.verdicts(rows.map((r) => ({ names: [r.common_name, ...(r.sans ?? [])], issuerId: r.issuer_id, issuerType: r.issuer_type })));
    return rows.map((r, i) => {
      const mine = targetsOf.get(r.id) ?? [];
      const manual = mine.flatMap((t) => {
        const a = targetAutomation(t);
        return a.automated ? [] : [{ id: t.id, name: t.name, type: t.type, reason: a.reason }];
      });
      return {
        certificate_id: r.id, name: r.name, common_name: r.common_name, status: r.status, team_id: r.team_id, issuer_id: r.issuer_id,
        issuer_name: r.issuer_name, issuer_type: r.issuer_type,
        current_lifetime_days: r.current_days === null ? null : round(Number(r.current_days)),
        profile_max_days: r.profile_max_days === null ? null : round(Number(r.profile_max_days)),
        renewal_window_days: Number(r.window_days),
        lifetime_days: Object.fromEntries(LIFETIME_KEYS.map((k) => [k, round(Number(r[`l_${k}`]))])) as PerKey,
        renewals_per_year: Object.fromEntries(LIFETIME_KEYS.map((k) => [k, round(Number(r[`r_${k}`]))])) as PerKey,
        caa: verdicts[i]!,
        deployment: { mode: !mine.length ? 'no_targets' : manual.length ? 'manual' : 'automated', targets: mine.length, manual_targets: manual },
      };
    });
  }
}
