import { EntityManager } from 'typeorm';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { certificateScopeSql } from './certificate-scope';
import { BULK_RENEW_MAX_CERTIFICATES, BulkRenewDto } from './dto/certificate.dto';

/** Which column (or relation) each single-id criterion filters on, and the table its id must exist in. */
const ID_CRITERIA = [
  { field: 'profile_id', table: 'certificate_profiles' },
  { field: 'owner_id', table: 'owners' },
  { field: 'agent_id', table: 'agents' },
  { field: 'issuer_id', table: 'issuers' },
  { field: 'team_id', table: 'teams' },
] as const;

export interface BulkMatch {
  /** Matching certificate ids, locked FOR UPDATE, in id order. */
  ids: string[];
  /** Requested certificate_ids that do not exist or do not match the other criteria. */
  errors: Array<{ certificate_id: string; error: string }>;
}

/**
 * certctl's bulk criteria (bulk renew and bulk revoke): at least one field; each id must exist (400 naming it);
 * only certificates within the caller's `permission` scope match (others requested by id are reported as not found);
 * more than BULK_RENEW_MAX_CERTIFICATES matches is a 400 rather than a truncated run. The matches are locked in
 * id order, as a single renew or revoke locks its one, so neither can act behind the other's back.
 */
export async function matchBulkCriteria(tx: EntityManager, criteria: BulkRenewDto, actor?: Principal, permission = 'cert.read'): Promise<BulkMatch> {
  const given = ID_CRITERIA.filter((c) => criteria[c.field] !== undefined);
  if (!given.length && !criteria.certificate_ids?.length) {
    throw ApiError.invalidField('criteria', `give at least one of ${[...ID_CRITERIA.map((c) => c.field), 'certificate_ids'].join(', ')}`);
  }
  for (const { field, table } of given) {
    const found: unknown[] = await tx.query(`SELECT 1 FROM ${table} WHERE id = $1`, [criteria[field]]);
    if (!found.length) throw ApiError.missingReference(field, criteria[field]!);
  }
  const requestedIds = criteria.certificate_ids ? [...new Set(criteria.certificate_ids)] : null;
  const params: unknown[] = [requestedIds, criteria.profile_id ?? null, criteria.owner_id ?? null, criteria.agent_id ?? null, criteria.issuer_id ?? null,
    criteria.team_id ?? null, BULK_RENEW_MAX_CERTIFICATES + 1];
  const scope = certificateScopeSql(actor, permission, params, 'c');
  const locked: Array<{ id: string }> = await tx.query(
    `SELECT c.id FROM managed_certificates c
      LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
      WHERE ($1::text[] IS NULL OR c.id = ANY($1::text[]))
        AND ($2::text IS NULL OR COALESCE(c.certificate_profile_id, p.certificate_profile_id) = $2)
        AND ($3::text IS NULL OR c.owner_id = $3)
        AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
                                          WHERE m.certificate_id = c.id AND t.agent_id = $4))
        AND ($5::text IS NULL OR c.issuer_id = $5)
        AND ($6::text IS NULL OR c.team_id = $6)
        ${scope ? `AND ${scope}` : ''}
      ORDER BY c.id LIMIT $7
      FOR UPDATE OF c`,
    params,
  );
  if (locked.length > BULK_RENEW_MAX_CERTIFICATES) {
    throw ApiError.invalidField('criteria', `matches more than ${BULK_RENEW_MAX_CERTIFICATES} certificates; narrow the criteria or split the request`);
  }
  const errors: BulkMatch['errors'] = [];
  if (requestedIds) {
    const matched = new Set(locked.map((c) => c.id));
    for (const id of requestedIds) {
      if (!matched.has(id)) errors.push({ certificate_id: id, error: given.length ? 'not found or does not match the criteria' : 'not found' });
    }
  }
  return { ids: locked.map((c) => c.id), errors };
}
