import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
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

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * GET /reports/readiness: how ready the inventory is for SC-081's shorter lifetimes. Every figure is computed in
 * PostgreSQL over the filtered set (one statement for the page, one for the groups), never certificate by
 * certificate, so it answers quickly for tens of thousands of certificates. Archived and revoked certificates are
 * left out: they are never renewed.
 */
@Injectable()
export class ReadinessService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly caa: CaaChecks) {}

  async report(query: ReadinessQuery): Promise<ReadinessReport> {
    await this.checkFilters(query);
    const { page, perPage, offset } = pageOf(query);
    const { sql, params } = this.baseQuery(query);
    const [rows, groups] = await Promise.all([
      this.dataSource.query<BaseRow[]>(`${sql} SELECT * FROM r ORDER BY name, id LIMIT ${perPage} OFFSET ${offset}`, params),
      this.groups(sql, params),
    ]);
    return {
      data: await this.rowsOf(rows), total: groups.total, page, per_page: perPage, generated_at: new Date(),
      steps: SC081_STEPS.map((s) => ({ ...s })), totals: groups.totals, by_team: groups.byTeam, by_issuer: groups.byIssuer,
    };
  }

  /** Every matching certificate as CSV, one line each, in pages of 1,000 rows. */
  async *csv(query: ReadinessQuery): AsyncGenerator<string> {
    await this.checkFilters(query);
    const header = [
      'certificate_id', 'name', 'common_name', 'status', 'team_id', 'issuer_id', 'issuer_type', 'current_lifetime_days', 'profile_max_days',
      ...LIFETIME_KEYS.map((k) => `lifetime_days_${k}`), ...LIFETIME_KEYS.map((k) => `renewals_per_year_${k}`), 'caa', 'caa_detail',
      'deployment', 'manual_targets',
    ];
    yield `${header.join(',')}\r\n`;
    const { sql, params } = this.baseQuery(query);
    for (let offset = 0; ; offset += 1000) {
      const rows = await this.rowsOf(await this.dataSource.query<BaseRow[]>(`${sql} SELECT * FROM r ORDER BY name, id LIMIT 1000 OFFSET ${offset}`, params));
      if (!rows.length) return;
      yield rows.map((r) => [
        r.certificate_id, r.name, r.common_name, r.status, r.team_id, r.issuer_id, r.issuer_type, r.current_lifetime_days, r.profile_max_days,
        ...LIFETIME_KEYS.map((k) => r.lifetime_days[k]), ...LIFETIME_KEYS.map((k) => r.renewals_per_year[k]), r.caa.status, r.caa.detail ?? '',
        r.deployment.mode, r.deployment.manual_targets.map((t) => `${t.name} (${t.reason})`).join('; '),
      ].map(csvField).join(',')).join('\r\n') + '\r\n';
      if (rows.length < 1000) return;
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

  /** `WITH r AS (…)`: one row per certificate with its lifetimes (l_*) and renewals a year (r_*) now and at each step. */
  private baseQuery(query: ReadinessQuery): { sql: string; params: unknown[] } {
    const stepColumns = SC081_STEPS.map((s) => `LEAST(b.base_days, COALESCE(b.profile_max_days, ${s.max_days}), ${s.max_days}) AS l_${s.key}`);
    const rateColumns = LIFETIME_KEYS.map((k) => `${renewalsPerYearSql(`l.l_${k}`, 'l.window_days')} AS r_${k}`);
    const sql = `
      WITH b AS (
        SELECT c.id, c.name, c.common_name, c.sans, c.status, c.team_id, c.issuer_id, i.name AS issuer_name, i.type AS issuer_type,
               EXTRACT(EPOCH FROM nv.not_after - nv.not_before)::float8 / 86400 AS current_days,
               NULLIF(pr.max_ttl_seconds, 0)::float8 / 86400 AS profile_max_days,
               COALESCE(p.renewal_window_days, 30) AS window_days,
               COALESCE(EXTRACT(EPOCH FROM nv.not_after - nv.not_before)::float8 / 86400, NULLIF(pr.max_ttl_seconds, 0)::float8 / 86400,
                        ${DEFAULT_LIFETIME_DAYS}) AS base_days
          FROM managed_certificates c
          JOIN issuers i ON i.id = c.issuer_id
          LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
          LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)
          LEFT JOIN LATERAL (SELECT v.not_before, v.not_after FROM certificate_versions v WHERE v.certificate_id = c.id
                              ORDER BY v.created_at DESC, v.id DESC LIMIT 1) nv ON true
         WHERE c.status NOT IN ('Archived', 'Revoked')
           AND ($1::text IS NULL OR c.team_id = $1) AND ($2::text IS NULL OR c.issuer_id = $2)
      ), l AS (
        SELECT b.*, b.base_days AS l_now, ${stepColumns.join(', ')} FROM b
      ), r AS (
        SELECT l.*, ${rateColumns.join(', ')} FROM l
      )`;
    return { sql, params: [query.team_id ?? null, query.issuer_id ?? null] };
  }

  /** Renewals a week per team and per issuer, and the totals, over the whole filtered set. */
  private async groups(sql: string, params: unknown[]): Promise<{ total: number; totals: ReadinessReport['totals']; byTeam: ReadinessGroup[]; byIssuer: ReadinessGroup[] }> {
    const sums = LIFETIME_KEYS.map((k) => `sum(r.r_${k}) * ${DAYS_PER_WEEK}.0 / ${DAYS_PER_YEAR} AS w_${k}`).join(', ');
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `${sql}
       SELECT CASE WHEN GROUPING(r.team_id) = 0 THEN 'team' WHEN GROUPING(r.issuer_id) = 0 THEN 'issuer' ELSE 'total' END AS kind,
              CASE WHEN GROUPING(r.team_id) = 0 THEN r.team_id ELSE r.issuer_id END AS id,
              count(*)::int AS certificates, ${sums}
         FROM r GROUP BY GROUPING SETS ((r.team_id), (r.issuer_id), ())`,
      params,
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
