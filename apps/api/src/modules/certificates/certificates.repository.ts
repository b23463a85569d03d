import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { TtlCache } from '../../common/cache';
import { escapeLike } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { DEFAULT_PER_PAGE, pageOf, sortOf } from '../../common/http/pagination';
import type { Principal } from '../../common/auth/principal';
import { certificateScopeSql } from './certificate-scope';
import { CertificateQuery } from './dto/certificate.dto';

const SORTABLE = ['created_at', 'name', 'common_name', 'expires_at', 'status', 'updated_at', 'environment'] as const;

/** Every column but the internal search_text, in the order the API returns them. */
const COLUMNS = [
  'id', 'name', 'common_name', 'sans', 'environment', 'owner_id', 'team_id', 'issuer_id', 'renewal_policy_id',
  'certificate_profile_id', 'status', 'expires_at', 'tags', 'last_renewal_at', 'last_deployment_at', 'revoked_at',
  'revocation_reason', 'source', 'created_at', 'updated_at',
] as const;

/** Columns sent as RFC 3339 UTC with milliseconds, exactly as JavaScript's Date#toJSON writes them. */
const TIMESTAMP_COLUMNS = new Set<string>(['expires_at', 'last_renewal_at', 'last_deployment_at', 'revoked_at', 'created_at', 'updated_at']);

/**
 * One list item as JSON text, built by PostgreSQL: a `"key":value` piece per column, NULL when the column is
 * (concat_ws skips NULLs, so unset fields are left out as the API's omit-unset rule wants), then target_ids.
 * The api passes the text through, without parsing rows into objects and serialising them again: on the list
 * that is most of a request's CPU.
 */
const ITEM_JSON_SQL = `'{' || concat_ws(',', ${[
  ...COLUMNS.map((c) => (TIMESTAMP_COLUMNS.has(c)
    ? `'"${c}":"' || to_char(c.${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"'`
    : `'"${c}":' || to_json(c.${c})::text`)),
  `'"target_ids":' || to_json(ARRAY(SELECT m.target_id FROM certificate_target_mappings m WHERE m.certificate_id = c.id ORDER BY m.target_id))::text`,
].join(', ')}) || '}'`;

const FILTERS: Array<[keyof CertificateQuery, string]> = [
  ['status', 'status'], ['owner_id', 'owner_id'], ['team_id', 'team_id'], ['issuer_id', 'issuer_id'],
  ['environment', 'environment'], ['profile_id', 'certificate_profile_id'],
];

/** The certificate inventory's queries; the one place with SQL for managed_certificates (STYLE C6). */
@Injectable()
export class CertificatesRepository {
  /** Totals per filter, reused for a few seconds: counting 100,000 rows on every page would dominate the list. */
  private readonly totals: TtlCache<number>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, @Inject(APP_CONFIG) config: AppConfig) {
    this.totals = new TtlCache(config.server.readCacheTtlMs);
  }

  /**
   * One page in one statement, as the JSON text of certctl's envelope: the page's ids come from an index-ordered
   * subquery, then only those rows are read (a "deferred join", so a deep page does not fetch every skipped row)
   * and turned into JSON by PostgreSQL (ITEM_JSON_SQL). `cursor` switches to certctl's keyset mode. Only the rows
   * within the caller's cert.read scope are listed and counted (a condition in the same statements).
   */
  async listJson(query: CertificateQuery, principal?: Principal): Promise<string> {
    if (query.cursor !== undefined) return this.listByCursorJson(query, principal);
    const { page, perPage, offset } = pageOf(query);
    const { where, params } = this.where(query, principal);
    const order = orderBy(query);
    const rowsSql = `
      SELECT string_agg(${ITEM_JSON_SQL}, ',' ORDER BY ${qualified(order)}) AS items
        FROM (SELECT id FROM managed_certificates ${where} ORDER BY ${order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}) p
        JOIN managed_certificates c ON c.id = p.id`;
    const [[rows], total] = await Promise.all([
      this.dataSource.query<Array<{ items: string | null }>>(rowsSql, [...params, perPage, offset]).then((r) => [r[0]?.items ?? ''] as const),
      this.count(where, params),
    ]);
    return `{"data":[${rows}],"total":${total},"page":${page},"per_page":${perPage}}`;
  }

  /**
   * certctl's cursor mode: rows after the cursor's (created_at, id) in that order, read straight from the
   * (created_at, id) index however deep the page, so page 2,000 costs what page 1 does. `next_cursor` is empty
   * on the last page.
   */
  private async listByCursorJson(query: CertificateQuery, principal?: Principal): Promise<string> {
    if (query.page !== undefined) throw ApiError.invalidField('cursor', 'use either cursor or page, not both');
    if (query.sort !== undefined && query.sort !== 'created_at' && query.sort !== 'createdAt') throw ApiError.invalidField('cursor', 'cursor pages follow created_at order; drop sort');
    const perPage = query.per_page ?? DEFAULT_PER_PAGE;
    const { where, params } = this.where(query, principal);
    const clauses = where ? [where.replace(/^WHERE /, '')] : [];
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rowParams = [...params];
    if (after) {
      rowParams.push(after.createdAt, after.id);
      clauses.push(`(created_at, id) > ($${rowParams.length - 1}::timestamptz, $${rowParams.length})`);
    }
    // One row more than the page tells whether there is a next one; its cursor is the page's last row.
    const [rows, total] = await Promise.all([
      this.dataSource.query<Array<{ item: string; cursor_at: string; id: string }>>(
        `SELECT ${ITEM_JSON_SQL} AS item, c.id,
                to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
           FROM managed_certificates c ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
          ORDER BY created_at ASC, id ASC LIMIT $${rowParams.length + 1}`,
        [...rowParams, perPage + 1],
      ),
      this.count(where, params),
    ]);
    const more = rows.length > perPage;
    const page = rows.slice(0, perPage);
    const last = page[page.length - 1];
    const nextCursor = more && last ? encodeCursor(last.cursor_at, last.id) : '';
    return `{"data":[${page.map((r) => r.item).join(',')}],"total":${total},"next_cursor":${JSON.stringify(nextCursor)},"page_size":${perPage}}`;
  }

  private count(where: string, params: unknown[]): Promise<number> {
    return this.totals.get(JSON.stringify([where, params]), async () => {
      const [row] = await this.dataSource.query<Array<{ n: string }>>(`SELECT count(*) AS n FROM managed_certificates ${where}`, params);
      return Number(row?.n ?? 0);
    });
  }

  /** A write in this process makes its cached totals stale at once (other processes wait out the TTL). */
  invalidate(): void {
    this.totals.clear();
  }

  private where(query: CertificateQuery, principal?: Principal): { where: string; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      clauses.push(sql.replace('?', `$${params.length}`));
    };
    for (const [param, column] of FILTERS) if (query[param] !== undefined) add(`${column} = ?`, query[param]);
    if (query.expires_before) add('expires_at < ?', query.expires_before);
    if (query.expires_after) add('expires_at > ?', query.expires_after);
    if (query.search) add('search_text LIKE ?', `%${escapeLike(query.search.toLowerCase())}%`);
    const scope = certificateScopeSql(principal, 'cert.read', params);
    if (scope) clauses.push(scope);
    return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
  }
}

/** certctl's cursor: base64url of `created_at (RFC 3339, microseconds) + ":" + id`. */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const split = text.lastIndexOf(':');
  const createdAt = text.slice(0, split);
  const id = text.slice(split + 1);
  if (split < 0 || !id || !/^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)$/.test(createdAt) || Number.isNaN(Date.parse(createdAt))) {
    throw ApiError.invalidField('cursor', 'is not a cursor this API returned (next_cursor)');
  }
  return { createdAt, id };
}

/**
 * `sort=field` / `sort=-field` from the allowed columns, or certctl's names (`notAfter` = expires_at,
 * `createdAt`, `commonName`, …); ties break on id; NULLs last either way.
 */
/** The ORDER BY of orderBy() on the joined rows (alias c). */
function qualified(order: string): string {
  return order.replace(/(\w+) (ASC|DESC)/g, 'c.$1 $2');
}

function orderBy(query: CertificateQuery): string {
  const { field, descending } = sortOf(query, SORTABLE, { notAfter: 'expires_at', expiresAt: 'expires_at' }) ??
    { field: 'created_at', descending: query.sort_desc === 'true' };
  const direction = descending ? 'DESC' : 'ASC';
  return `${field} ${direction} NULLS LAST, id ${direction}`;
}
