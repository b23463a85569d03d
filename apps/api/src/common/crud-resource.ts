import { DataSource, EntityManager, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { AuditCategory } from '@certctl/contracts';
import { IdKind, newId } from '@certctl/db';
import type { AuditService } from './audit/audit.service';
import type { Principal } from './auth/principal';
import { ApiError } from './http/api-error';
import type { RowCondition } from './scope';
import { Page, PageQuery, pageOf, sortOf } from './http/pagination';
import { translateWriteError } from './http/write-errors';

type Entity = ObjectLiteral & { id: string };

export interface ResourceSpec<E extends Entity> {
  entity: new () => E;
  table: string;
  /** Singular, for messages and error codes: 'team', 'renewal policy'. */
  resource: string;
  idKind: IdKind;
  category: AuditCategory;
  /** Audit action names of the domain events (certctl's, e.g. create_team / policy_rule_created). */
  actions: { created: string; updated: string; deleted: string };
  /** Query parameters that filter by equality on the column of the same name. */
  filters?: readonly (keyof E & string)[];
  /** Columns a client may sort by; `created_at` is the default and `id` breaks ties. */
  sortable?: readonly (keyof E & string)[];
  /** Columns searched case-insensitively by the free-text `search` parameter. */
  searchable?: readonly (keyof E & string)[];
  /** A fixed condition of every list, on alias `r` (e.g. `r.retired_at IS NULL`). */
  listScope?: string;
}

/**
 * The list/get/create/update/delete that most inventory resources share, with the API's rules in one place:
 * the page envelope, stable sorting, client-supplied ids, constraint violations as 400/409, 404 for unknown ids,
 * and the domain audit event written in the same transaction as the change. Used by composition, per resource.
 */
export class CrudResource<E extends Entity> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    readonly spec: ResourceSpec<E>,
  ) {}

  /** `visibleIf` (on alias `r`): only the rows the caller may see are listed and counted. */
  async list(query: PageQuery & { search?: string }, where: Partial<Record<keyof E & string, unknown>> = {}, visibleIf?: RowCondition): Promise<Page<E>> {
    const { page, perPage, offset } = pageOf(query);
    const qb = this.dataSource.createQueryBuilder(this.spec.entity, 'r');
    if (this.spec.listScope) qb.andWhere(this.spec.listScope);
    if (visibleIf) qb.andWhere(visibleIf.sql, visibleIf.params);
    for (const column of this.spec.filters ?? []) {
      const value = (query as Record<string, unknown>)[column] ?? where[column];
      if (value !== undefined) qb.andWhere(`r.${column} = :${column}`, { [column]: value });
    }
    if (query.search && this.spec.searchable?.length) {
      const clauses = this.spec.searchable.map((c) => `r.${c} ILIKE :search`).join(' OR ');
      qb.andWhere(`(${clauses})`, { search: `%${escapeLike(query.search)}%` });
    }
    applySort(qb, query, this.spec.sortable ?? []);
    const [data, total] = await qb.offset(offset).limit(perPage).getManyAndCount();
    return { data, total, page, per_page: perPage };
  }

  /** The row, or 404; also 404 when it fails `visibleIf`, so a row outside the caller's scope is not revealed. */
  async get(id: string, manager: EntityManager = this.dataSource.manager, visibleIf?: RowCondition): Promise<E> {
    const row = visibleIf
      ? await this.scoped(manager, id, visibleIf).getOne()
      : await manager.findOne(this.spec.entity, { where: { id } as never });
    if (!row) throw ApiError.notFound(this.spec.resource, id);
    return row;
  }

  async create(actor: Principal, input: Partial<E> & { id?: string }, afterInsert?: (tx: EntityManager, row: E) => Promise<void>): Promise<E> {
    const id = input.id ?? newId(this.spec.idKind);
    try {
      return await this.dataSource.transaction(async (tx) => {
        await tx.insert(this.spec.entity, { ...input, id } as never);
        const row = await this.get(id, tx);
        await afterInsert?.(tx, row);
        await this.audit.record(
          { actor, action: this.spec.actions.created, resource_type: this.spec.table, resource_id: id,
            event_category: this.spec.category, details: { name: (row as { name?: unknown }).name ?? null } },
          tx,
        );
        return row;
      });
    } catch (err) {
      translateWriteError(err, this.spec.table, this.spec.resource);
    }
  }

  async update(
    actor: Principal, id: string, patch: Partial<E>, afterUpdate?: (tx: EntityManager, row: E) => Promise<void>, visibleIf?: RowCondition,
  ): Promise<E> {
    try {
      return await this.dataSource.transaction(async (tx) => {
        await this.lock(tx, id, visibleIf);
        const changed = Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined);
        if (changed.length) await tx.update(this.spec.entity, { id } as never, patch as never);
        const row = await this.get(id, tx);
        await afterUpdate?.(tx, row);
        await this.audit.record(
          { actor, action: this.spec.actions.updated, resource_type: this.spec.table, resource_id: id,
            event_category: this.spec.category, details: { changed_fields: changed } },
          tx,
        );
        return row;
      });
    } catch (err) {
      translateWriteError(err, this.spec.table, this.spec.resource);
    }
  }

  async remove(actor: Principal, id: string, visibleIf?: RowCondition): Promise<void> {
    try {
      await this.dataSource.transaction(async (tx) => {
        const row = await this.lock(tx, id, visibleIf);
        await tx.delete(this.spec.entity, { id } as never);
        await this.audit.record(
          { actor, action: this.spec.actions.deleted, resource_type: this.spec.table, resource_id: id,
            event_category: this.spec.category, details: { name: (row as { name?: unknown }).name ?? null },
            team_id: (row as { team_id?: string | null }).team_id ?? null },
          tx,
        );
      });
    } catch (err) {
      translateWriteError(err, this.spec.table, this.spec.resource);
    }
  }

  /** Locks the row for the rest of the transaction, or 404 (also when it fails `visibleIf`). */
  async lock(tx: EntityManager, id: string, visibleIf?: RowCondition): Promise<E> {
    const row = visibleIf
      ? await this.scoped(tx, id, visibleIf).setLock('pessimistic_write').getOne()
      : await tx.findOne(this.spec.entity, { where: { id } as never, lock: { mode: 'pessimistic_write' } });
    if (!row) throw ApiError.notFound(this.spec.resource, id);
    return row;
  }

  /** True when the row exists and meets `condition` (a write scope checked after the read scope let it through). */
  async matches(manager: EntityManager, id: string, condition: RowCondition | undefined): Promise<boolean> {
    if (!condition) return true;
    return (await this.scoped(manager, id, condition).getCount()) > 0;
  }

  private scoped(manager: EntityManager, id: string, condition: RowCondition): SelectQueryBuilder<E> {
    return manager.createQueryBuilder(this.spec.entity, 'r').where('r.id = :scopedRowId', { scopedRowId: id }).andWhere(condition.sql, condition.params);
  }
}

/** `sort=field` or `sort=-field` (or certctl's camelCase names), checked against the allowed columns; ties always break on id. */
export function applySort<T extends ObjectLiteral>(qb: SelectQueryBuilder<T>, query: PageQuery, allowed: readonly string[]): void {
  const { field, descending } = sortOf(query, ['created_at', ...allowed]) ?? { field: 'created_at', descending: query.sort_desc === 'true' };
  const direction = descending ? 'DESC' : 'ASC';
  qb.orderBy(`${qb.alias}.${field}`, direction, 'NULLS LAST').addOrderBy(`${qb.alias}.id`, direction);
}

export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
