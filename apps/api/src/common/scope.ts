import { HttpStatus } from '@nestjs/common';
import type { Principal } from './auth/principal';
import { isVisible, namedBinder, OwnerColumns, scopeFieldOf, Visibility, visibilityOf, visibilitySql } from './auth/visibility';
import { ApiError } from './http/api-error';

/** A row condition (TypeORM named parameters) that narrows a query to what the caller may see. */
export interface RowCondition {
  sql: string;
  params: Record<string, unknown>;
}

/** `visibility` on `columns` as a TypeORM condition; undefined when it does not narrow (`all`). */
export function rowCondition(visibility: Visibility, columns: OwnerColumns): RowCondition | undefined {
  const params: Record<string, unknown> = {};
  const sql = visibilitySql(visibility, columns, namedBinder(params));
  return sql === undefined ? undefined : { sql, params };
}

/** A row's owners, as the certificate inventory names them. */
export interface OwnedRow {
  id: string;
  team_id?: string | null;
  issuer_id?: string | null;
  certificate_profile_id?: string | null;
}

function ownersOf(row: OwnedRow): { team_id?: string | null; issuer_id?: string | null; profile_id?: string | null } {
  return { team_id: row.team_id, issuer_id: row.issuer_id, profile_id: row.certificate_profile_id };
}

/**
 * One row against the caller's scope: 404 when `readPermission` does not reach it (its existence stays hidden),
 * 403 when the caller may see it but `permission` does not reach it.
 */
export function checkRowAccess(principal: Principal | undefined, resource: string, row: OwnedRow, readPermission: string, permission?: string): void {
  if (!isVisible(visibilityOf(principal, readPermission), ownersOf(row))) throw ApiError.notFound(resource, row.id);
  if (permission && permission !== readPermission && !isVisible(visibilityOf(principal, permission), ownersOf(row))) {
    throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', `${permission} on ${resource} ${row.id} is outside your grants`);
  }
}

/**
 * A row being created or moved must land inside the caller's `permission` scope: 403 naming the owner field
 * (team first) when it would not. `fields` maps the row's owner columns to the request's field names.
 */
export function checkLandsInScope(
  principal: Principal | undefined, permission: string, row: Omit<OwnedRow, 'id'>,
  fields: { team: string; issuer?: string; profile?: string } = { team: 'team_id', issuer: 'issuer_id', profile: 'certificate_profile_id' },
): void {
  const visibility = visibilityOf(principal, permission);
  if (isVisible(visibility, ownersOf({ id: '', ...row }))) return;
  const field = scopeFieldOf(visibility, fields);
  const value = field === fields.team ? row.team_id : field === fields.issuer ? row.issuer_id : row.certificate_profile_id;
  throw outOfScope(field, value ?? null, permission);
}

/** 403 with the field: the value given would put the row outside what the caller's grants for `permission` reach. */
export function outOfScope(field: string, value: string | null, permission: string): ApiError {
  const message = value === null ? `must name one of the scopes your ${permission} grants cover` : `${value} is outside the scopes your ${permission} grants cover`;
  return new ApiError(HttpStatus.FORBIDDEN, 'OUT_OF_SCOPE', `${field}: ${message}`, [{ field, message }]);
}
