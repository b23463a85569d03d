import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TtlCache } from '../cache';
import type { RoleGrant } from './principal';
import type { Grant } from './visibility';

/**
 * A caller's grants are reused for this long, sparing two joins per request. A grant given or taken back in this
 * process counts at once (the cache is cleared); on other api replicas within this many milliseconds. Expiry is
 * exact: each grant carries its expires_at and is dropped at that millisecond.
 */
const GRANTS_TTL_MS = 1_000;

export interface GrantRow {
  role_id: string;
  role_name: string;
  scope_type: Grant['scope_type'];
  scope_id: string | null;
  expires_at: Date | null;
  via: 'direct' | 'group';
  permissions: string[];
}

export interface ResolvedGrants {
  grants: Grant[];
  roles: RoleGrant[];
}

/** Loads what an API key or a user may do: its own grants, and for a user its provider groups' mappings. */
@Injectable()
export class GrantsService {
  private readonly cache = new TtlCache<GrantRow[]>(GRANTS_TTL_MS, 20_000);
  private readonly onClear: Array<() => void> = [];

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async ofKey(keyId: string): Promise<ResolvedGrants> {
    return live(await this.cache.get(`APIKey:${keyId}`, () => this.dataSource.query(`${DIRECT} ORDER BY 1, 3, 4`, ['APIKey', keyId])));
  }

  /** Caches holding grants elsewhere (the resolved API keys) are cleared with this one. */
  alsoClear(clear: () => void): void {
    this.onClear.push(clear);
  }

  async ofUser(userId: string): Promise<ResolvedGrants> {
    return live(await this.cache.get(`User:${userId}`, () => this.dataSource.query(`${DIRECT} UNION ALL ${THROUGH_GROUPS} ORDER BY 1, 3, 4`, ['User', userId])));
  }

  /** After any change to roles, role permissions, grants or group mappings. */
  clear(): void {
    this.cache.clear();
    for (const clear of this.onClear) clear();
  }
}

const DIRECT = `
  SELECT ar.role_id, r.name AS role_name, ar.scope_type, ar.scope_id, ar.expires_at, 'direct' AS via,
         COALESCE(array_agg(rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}') AS permissions
    FROM actor_roles ar JOIN roles r ON r.id = ar.role_id LEFT JOIN role_permissions rp ON rp.role_id = ar.role_id
   WHERE ar.actor_type = $1 AND ar.actor_id = $2 AND (ar.expires_at IS NULL OR ar.expires_at > now())
   GROUP BY ar.id, r.name`;

const THROUGH_GROUPS = `
  SELECT m.role_id, r.name AS role_name, m.scope_type, m.scope_id, m.expires_at, 'group' AS via,
         COALESCE(array_agg(rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}') AS permissions
    FROM users u
    JOIN oidc_providers p ON p.id = u.oidc_provider_id AND p.enabled
    JOIN group_role_mappings m ON m.provider_id = u.oidc_provider_id AND m.group_name = ANY(u.groups)
    JOIN roles r ON r.id = m.role_id LEFT JOIN role_permissions rp ON rp.role_id = m.role_id
   WHERE u.id = $2 AND (m.expires_at IS NULL OR m.expires_at > now())
   GROUP BY m.id, r.name`;

/**
 * A key's grant rows as one JSON array column, to be read in the same query that finds the key (`k` = api_keys):
 * one query per uncached key, not two.
 */
export const KEY_GRANTS_COLUMN = `(
  SELECT COALESCE(json_agg(g ORDER BY g.role_id, g.scope_type, g.scope_id), '[]') FROM (
    SELECT ar.role_id, r.name AS role_name, ar.scope_type, ar.scope_id, ar.expires_at, 'direct' AS via,
           COALESCE(array_agg(rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}') AS permissions
      FROM actor_roles ar JOIN roles r ON r.id = ar.role_id LEFT JOIN role_permissions rp ON rp.role_id = ar.role_id
     WHERE ar.actor_type = 'APIKey' AND ar.actor_id = k.id AND (ar.expires_at IS NULL OR ar.expires_at > now())
     GROUP BY ar.id, r.name) g) AS grants`;

/** The rows still in force now (a cached row may have expired since it was read). */
export function live(rows: GrantRow[]): ResolvedGrants {
  const now = Date.now();
  const grants: Grant[] = [];
  const roles: RoleGrant[] = [];
  for (const row of rows) {
    const expiresAt = row.expires_at ? new Date(row.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= now) continue;
    roles.push({ role_id: row.role_id, role_name: row.role_name, scope_type: row.scope_type, scope_id: row.scope_id, expires_at: expiresAt, via: row.via });
    for (const permission of row.permissions) grants.push({ permission, scope_type: row.scope_type, scope_id: row.scope_id });
  }
  return { grants, roles };
}
