import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { ManagedCertificateEntity } from '@certctl/db';
import { TtlCache } from '../../common/cache';
import { escapeLike } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { DEFAULT_PER_PAGE, Page, pageOf, sortOf } from '../../common/http/pagination';
import { CertificateQuery } from './dto/certificate.dto';

/** A list item: the certificate and the targets it is mapped to. */
export type CertificateListItem = ManagedCertificateEntity & { target_ids: string[] };

const SORTABLE = ['created_at', 'name', 'common_name', 'expires_at', 'status', 'updated_at', 'environment'] as const;

/** Every column but the internal search_text, in the order the API returns them. */
const COLUMNS = [
  'id', 'name', 'common_name', 'sans', 'environment', 'owner_id', 'team_id', 'issuer_id', 'renewal_policy_id',
  'certificate_profile_id', 'status', 'expires_at', 'tags', 'last_renewal_at', 'last_deployment_at', 'revoked_at',
  'revocation_reason', 'source', 'created_at', 'updated_at',
] as const;

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
   * One page in one statement: the page's ids come from an index-ordered subquery, then only those rows are
   * read (a "deferred join"), so a deep page does not fetch every skipped row. Rows come back as the driver
   * parses them, without entity hydration.
   */
  async list(query: CertificateQuery): Promise<Page<CertificateListItem> | CursorPage<CertificateListItem>> {
    if (query.cursor !== undefined) return this.listByCursor(query);
    const { page, perPage, offset } = pageOf(query);
    const { where, params } = this.where(query);
    const order = orderBy(query);
    // Each item carries its mapped targets (target_ids), as certctl's list does.
    const rowsSql = `
      SELECT ${COLUMNS.map((c) => `c.${c}`).join(', ')},
             ARRAY(SELECT m.target_id FROM certificate_target_mappings m WHERE m.certificate_id = c.id ORDER BY m.target_id) AS target_ids
        FROM (SELECT id FROM managed_certificates ${where} ORDER BY ${order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}) p
        JOIN managed_certificates c ON c.id = p.id
       ORDER BY ${order.replace(/(\w+) (ASC|DESC)/g, 'c.$1 $2')}`;
    const countKey = JSON.stringify([where, params]);
    const [data, total] = await Promise.all([
      this.dataSource.query<CertificateListItem[]>(rowsSql, [...params, perPage, offset]),
      this.totals.get(countKey, async () => {
        const [row] = await this.dataSource.query<Array<{ n: string }>>(`SELECT count(*) AS n FROM managed_certificates ${where}`, params);
        return Number(row?.n ?? 0);
      }),
    ]);
    return { data, total, page, per_page: perPage };
  }

  /**
   * certctl's cursor mode: rows after the cursor's (created_at, id) in that order, read straight from the
   * (created_at, id) index however deep the page, so page 2,000 costs what page 1 does. `next_cursor` is empty
   * on the last page.
   */
  private async listByCursor(query: CertificateQuery): Promise<CursorPage<CertificateListItem>> {
    if (query.page !== undefined) throw ApiError.invalidField('cursor', 'use either cursor or page, not both');
    if (query.sort !== undefined && query.sort !== 'created_at' && query.sort !== 'createdAt') throw ApiError.invalidField('cursor', 'cursor pages follow created_at order; drop sort');
    const perPage = query.per_page ?? DEFAULT_PER_PAGE;
    const { where, params } = this.where(query);
    const clauses = where ? [where.replace(/^WHERE /, '')] : [];
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    if (after) {
      params.push(after.createdAt, after.id);
      clauses.push(`(created_at, id) > ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    const { where: countWhere, params: countParams } = this.where(query);
    const [rows, total] = await Promise.all([
      this.dataSource.query<Array<CertificateListItem & { cursor_at?: string }>>(
        `SELECT ${COLUMNS.map((c) => `c.${c}`).join(', ')},
                ARRAY(SELECT m.target_id FROM certificate_target_mappings m WHERE m.certificate_id = c.id ORDER BY m.target_id) AS target_ids,
                to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
           FROM managed_certificates c ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
          ORDER BY created_at ASC, id ASC LIMIT $${params.length + 1}`,
        [...params, perPage + 1],
      ),
      this.count(countWhere, countParams),
    ]);
    const more = rows.length > perPage;
    const data = rows.slice(0, perPage);
    const last = data[data.length - 1];
    const nextCursor = more && last ? encodeCursor(last.cursor_at!, last.id) : '';
    // undefined, not delete: JSON leaves it out and the rows keep their fast shape for serialisation.
    for (const row of data) row.cursor_at = undefined;
    return { data, total, next_cursor: nextCursor, page_size: perPage };
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

  private where(query: CertificateQuery): { where: string; params: unknown[] } {
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
    return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
  }
}

/** certctl's cursor-mode envelope. */
export interface CursorPage<T> {
  data: T[];
  total: number;
  next_cursor: string;
  page_size: number;
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
function orderBy(query: CertificateQuery): string {
  const { field, descending } = sortOf(query, SORTABLE, { notAfter: 'expires_at', expiresAt: 'expires_at' }) ??
    { field: 'created_at', descending: query.sort_desc === 'true' };
  const direction = descending ? 'DESC' : 'ASC';
  return `${field} ${direction} NULLS LAST, id ${direction}`;
}
