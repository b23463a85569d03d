import type { Principal } from '../../common/auth/principal';
import type { EntityManager } from 'typeorm';
import { ApiError } from '../../common/http/api-error';
import { isVisible, namedBinder, OwnerColumns, positionalBinder, visibilityOf, visibilitySql } from '../../common/auth/visibility';
import { checkLandsInScope, checkRowAccess, OwnedRow, RowCondition } from '../../common/scope';

/** The owner columns of managed_certificates, under `alias` (none: unqualified). */
export function certificateOwners(alias?: string): OwnerColumns {
  const p = alias ? `${alias}.` : '';
  return { team: `${p}team_id`, issuer: `${p}issuer_id`, profile: `${p}certificate_profile_id` };
}

/**
 * The caller's scope for `permission` as a condition on managed_certificates (positional parameters appended to
 * `params`); undefined when it does not narrow.
 */
export function certificateScopeSql(principal: Principal | undefined, permission: string, params: unknown[], alias?: string): string | undefined {
  return visibilitySql(visibilityOf(principal, permission), certificateOwners(alias), positionalBinder(params));
}

/** 404 when the caller may not read the certificate, 403 when it may read it but `permission` does not reach it. */
export function checkCertificate(principal: Principal | undefined, cert: OwnedRow, permission?: string): void {
  checkRowAccess(principal, 'certificate', cert, 'cert.read', permission);
}

/** A certificate created or moved must stay inside the caller's `permission` scope (403 naming the field). */
export function checkCertificateLands(principal: Principal | undefined, permission: string, owners: Omit<OwnedRow, 'id'>): void {
  checkLandsInScope(principal, permission, owners);
}

/**
 * Rows that belong to a certificate (jobs, notifications) are visible when their certificate is: the caller's
 * `permission` scope applied to the certificate `column` names, as a TypeORM condition. Undefined when it does not
 * narrow; a row without a certificate is then outside every scope.
 */
export function viaCertificate(principal: Principal | undefined, permission: string, column = 'r.certificate_id'): RowCondition | undefined {
  const params: Record<string, unknown> = {};
  const scope = visibilitySql(visibilityOf(principal, permission), certificateOwners('sc'), namedBinder(params, 'cvis'));
  if (scope === undefined) return undefined;
  if (scope === 'FALSE') return { sql: 'FALSE', params };
  return { sql: `EXISTS (SELECT 1 FROM managed_certificates sc WHERE sc.id = ${column} AND ${scope})`, params };
}

/** 404 (as `resource` `id`) unless the certificate a row belongs to lies within the caller's `permission` scope. */
export async function checkOwningCertificate(
  manager: EntityManager, principal: Principal | undefined, resource: string, id: string, certificateId: string | null, permission: string,
): Promise<void> {
  const visibility = visibilityOf(principal, permission);
  if (visibility.kind === 'all') return;
  const [cert]: Array<{ team_id: string | null; issuer_id: string | null; profile_id: string | null }> = certificateId
    ? await manager.query('SELECT team_id, issuer_id, certificate_profile_id AS profile_id FROM managed_certificates WHERE id = $1', [certificateId])
    : [];
  if (!cert || !isVisible(visibility, cert)) throw ApiError.notFound(resource, id);
}
