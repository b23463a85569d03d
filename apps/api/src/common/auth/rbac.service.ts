import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import {
  BUILT_IN_ROLE_DESCRIPTIONS, BUILT_IN_ROLE_NAMES, BUILT_IN_ROLE_PERMISSIONS, GRANT_SCOPE_TYPES, GrantScopeType, isPermission, PERMISSION_CATALOGUE,
} from '@certctl/contracts';
import { newId } from '@certctl/db';
import { AuditService } from '../audit/audit.service';
import { ApiError } from '../http/api-error';
import { GrantsService } from './grants.service';
import type { Principal } from './principal';

export interface RoleView {
  id: string;
  name: string;
  description: string;
  built_in: boolean;
  permissions: string[];
  created_at: Date;
  updated_at: Date;
}

export interface GrantView {
  id: string;
  actor_type: GrantActorType;
  actor_id: string;
  role_id: string;
  role_name: string;
  scope_type: GrantScopeType;
  scope_id: string | null;
  expires_at: Date | null;
  granted_by: string;
  created_at: Date;
}

export type GrantActorType = 'User' | 'APIKey';

export interface GrantInput {
  role_id: string;
  scope_type?: string;
  scope_id?: string;
  expires_at?: Date;
}

/** Where each scope type's ids live. */
const SCOPE_TABLES: Record<Exclude<GrantScopeType, 'global'>, { table: string; noun: string }> = {
  team: { table: 'teams', noun: 'team' },
  issuer: { table: 'issuers', noun: 'issuer' },
  profile: { table: 'certificate_profiles', noun: 'profile' },
};

const ROLE_COLUMNS = `r.id, r.name, r.description, r.built_in, r.created_at, r.updated_at,
  COALESCE((SELECT array_agg(rp.permission ORDER BY rp.permission) FROM role_permissions rp WHERE rp.role_id = r.id), '{}') AS permissions`;
const GRANT_COLUMNS = `ar.id, ar.actor_type, ar.actor_id, ar.role_id, r.name AS role_name, ar.scope_type, ar.scope_id, ar.expires_at, ar.granted_by, ar.created_at`;

/**
 * Roles, their permissions and the grants of roles to keys and users (group mappings live with the OpenID
 * providers and use `checkGrant` here). Built-in roles are read-only and kept in step with the code at boot.
 * Every change is audited and forgets the cached grants, so it counts on the next request.
 */
@Injectable()
export class RbacService implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly grants: GrantsService,
  ) {}

  /** The catalogue and the built-in roles as the code has them (a newer build may add permissions). */
  async onModuleInit(): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      // Replicas booting together take turns (the same rows, in the same order, but one at a time is plainer).
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('certctl:rbac-catalogue'))`);
      await tx.query(
        `INSERT INTO permissions (name, description) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description WHERE permissions.description <> EXCLUDED.description`,
        [Object.keys(PERMISSION_CATALOGUE), Object.values(PERMISSION_CATALOGUE)],
      );
      for (const name of BUILT_IN_ROLE_NAMES) {
        const id = `r-${name}`;
        const permissions = BUILT_IN_ROLE_PERMISSIONS[name];
        await tx.query(
          `INSERT INTO roles (id, name, description, built_in) VALUES ($1, $2, $3, true) ON CONFLICT (id) DO NOTHING`,
          [id, name, BUILT_IN_ROLE_DESCRIPTIONS[name]],
        );
        await tx.query('DELETE FROM role_permissions WHERE role_id = $1 AND NOT (permission = ANY($2::text[]))', [id, permissions]);
        await tx.query('INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [id, permissions]);
      }
    });
  }

  listPermissions(): Promise<Array<{ name: string; description: string }>> {
    return this.dataSource.query('SELECT name, description FROM permissions ORDER BY name');
  }

  listRoles(): Promise<RoleView[]> {
    return this.dataSource.query(`SELECT ${ROLE_COLUMNS} FROM roles r ORDER BY r.built_in DESC, r.name`);
  }

  async getRole(id: string, manager: EntityManager = this.dataSource.manager): Promise<RoleView> {
    const rows: RoleView[] = await manager.query(`SELECT ${ROLE_COLUMNS} FROM roles r WHERE r.id = $1`, [id]);
    if (!rows[0]) throw ApiError.notFound('role', id);
    return rows[0];
  }

  async createRole(actor: Principal, input: { id?: string; name: string; description?: string; permissions?: string[] }): Promise<RoleView> {
    const permissions = checkPermissions(input.permissions ?? []);
    const id = input.id ?? newId('role');
    return this.change(async (tx) => {
      const clash: Array<{ id: string; name: string }> = await tx.query('SELECT id, name FROM roles WHERE id = $1 OR lower(name) = lower($2)', [id, input.name]);
      if (clash.some((r) => r.id === id)) throw ApiError.conflict('DUPLICATE', `role ${id} already exists`, [{ field: 'id', message: 'already exists' }]);
      if (clash.length) throw ApiError.conflict('DUPLICATE', `a role named ${input.name} already exists`, [{ field: 'name', message: 'already exists' }]);
      await tx.query('INSERT INTO roles (id, name, description) VALUES ($1, $2, $3)', [id, input.name, input.description ?? '']);
      await tx.query('INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[])', [id, permissions]);
      await this.audit.record({ actor, action: 'role_created', resource_type: 'role', resource_id: id, event_category: 'auth', details: { name: input.name, permissions } }, tx);
      return this.getRole(id, tx);
    });
  }

  async updateRole(actor: Principal, id: string, input: { name?: string; description?: string; permissions?: string[] }): Promise<RoleView> {
    const permissions = input.permissions === undefined ? undefined : checkPermissions(input.permissions);
    return this.change(async (tx) => {
      await this.editableRole(tx, id);
      if (input.name !== undefined) {
        const clash: unknown[] = await tx.query('SELECT 1 FROM roles WHERE lower(name) = lower($1) AND id <> $2', [input.name, id]);
        if (clash.length) throw ApiError.conflict('DUPLICATE', `a role named ${input.name} already exists`, [{ field: 'name', message: 'already exists' }]);
      }
      await tx.query('UPDATE roles SET name = COALESCE($2, name), description = COALESCE($3, description), updated_at = now() WHERE id = $1',
        [id, input.name ?? null, input.description ?? null]);
      if (permissions) {
        await tx.query('DELETE FROM role_permissions WHERE role_id = $1', [id]);
        await tx.query('INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[])', [id, permissions]);
      }
      await this.audit.record({ actor, action: 'role_updated', resource_type: 'role', resource_id: id, event_category: 'auth', details: { ...input } }, tx);
      return this.getRole(id, tx);
    });
  }

  async deleteRole(actor: Principal, id: string): Promise<void> {
    await this.change(async (tx) => {
      const role = await this.editableRole(tx, id);
      const held: Array<{ n: string }> = await tx.query(
        `SELECT (SELECT count(*) FROM actor_roles WHERE role_id = $1) + (SELECT count(*) FROM group_role_mappings WHERE role_id = $1) AS n`, [id]);
      await tx.query('DELETE FROM roles WHERE id = $1', [id]);
      await this.audit.record({ actor, action: 'role_deleted', resource_type: 'role', resource_id: id, event_category: 'auth',
        details: { name: role.name, grants_removed: Number(held[0]?.n ?? 0) } }, tx);
    });
  }

  async addPermission(actor: Principal, id: string, permission: string): Promise<RoleView> {
    const [checked] = checkPermissions([permission], 'permission');
    return this.change(async (tx) => {
      await this.editableRole(tx, id);
      const added: unknown[] = await tx.query('INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING role_id', [id, checked]);
      if (!added.length) throw ApiError.conflict('DUPLICATE', `role ${id} already has ${checked}`, [{ field: 'permission', message: 'already granted' }]);
      await tx.query('UPDATE roles SET updated_at = now() WHERE id = $1', [id]);
      await this.audit.record({ actor, action: 'role_permission_added', resource_type: 'role', resource_id: id, event_category: 'auth', details: { permission: checked } }, tx);
      return this.getRole(id, tx);
    });
  }

  async removePermission(actor: Principal, id: string, permission: string): Promise<RoleView> {
    return this.change(async (tx) => {
      await this.editableRole(tx, id);
      const removed: unknown[] = await tx.query('DELETE FROM role_permissions WHERE role_id = $1 AND permission = $2 RETURNING role_id', [id, permission]);
      if (!removedRows(removed).length) throw ApiError.notFound('role permission', `${id}/${permission}`);
      await tx.query('UPDATE roles SET updated_at = now() WHERE id = $1', [id]);
      await this.audit.record({ actor, action: 'role_permission_removed', resource_type: 'role', resource_id: id, event_category: 'auth', details: { permission } }, tx);
      return this.getRole(id, tx);
    });
  }

  listGrants(actorType: GrantActorType, actorId: string): Promise<GrantView[]> {
    return this.dataSource.query(
      `SELECT ${GRANT_COLUMNS} FROM actor_roles ar JOIN roles r ON r.id = ar.role_id WHERE ar.actor_type = $1 AND ar.actor_id = $2 ORDER BY ar.created_at, ar.id`,
      [actorType, actorId],
    );
  }

  /** Grants a role to a key or user (which the caller has checked exists); 409 when the same grant exists. */
  async grant(actor: Principal, actorType: GrantActorType, actorId: string, input: GrantInput): Promise<GrantView> {
    return this.change(async (tx) => {
      const { scope_type, scope_id } = await this.checkGrant(input, tx);
      const id = newId('actorRole');
      const inserted: unknown[] = await tx.query(
        `INSERT INTO actor_roles (id, actor_type, actor_id, role_id, scope_type, scope_id, expires_at, granted_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT ON CONSTRAINT uq_actor_roles DO NOTHING RETURNING id`,
        [id, actorType, actorId, input.role_id, scope_type, scope_id, input.expires_at ?? null, actor.actor],
      );
      if (!inserted.length) {
        throw ApiError.conflict('DUPLICATE', `${input.role_id} is already granted to ${actorId} in ${scope_type}${scope_id ? ` ${scope_id}` : ''}`,
          [{ field: 'role_id', message: 'already granted in this scope' }]);
      }
      await this.audit.record({ actor, action: 'role_granted', resource_type: actorType === 'APIKey' ? 'api_key' : 'user', resource_id: actorId,
        event_category: 'auth', details: { grant_id: id, role_id: input.role_id, scope_type, scope_id, expires_at: input.expires_at ?? null } }, tx);
      const rows: GrantView[] = await tx.query(`SELECT ${GRANT_COLUMNS} FROM actor_roles ar JOIN roles r ON r.id = ar.role_id WHERE ar.id = $1`, [id]);
      return rows[0]!;
    });
  }

  /** Takes a role back (every scope of it, or only the one given); 404 when the actor does not hold it. */
  async revoke(actor: Principal, actorType: GrantActorType, actorId: string, roleId: string, scope?: { scope_type?: string; scope_id?: string }): Promise<void> {
    await this.change(async (tx) => {
      const removed = removedRows(await tx.query(
        `DELETE FROM actor_roles WHERE actor_type = $1 AND actor_id = $2 AND role_id = $3
           AND ($4::text IS NULL OR scope_type = $4) AND ($5::text IS NULL OR scope_id = $5) RETURNING id, scope_type, scope_id`,
        [actorType, actorId, roleId, scope?.scope_type ?? null, scope?.scope_id ?? null],
      ));
      if (!removed.length) throw ApiError.notFound('role grant', `${roleId} of ${actorId}`);
      await this.audit.record({ actor, action: 'role_revoked', resource_type: actorType === 'APIKey' ? 'api_key' : 'user', resource_id: actorId,
        event_category: 'auth', details: { role_id: roleId, grants: removed } }, tx);
    });
  }

  /**
   * Checks a grant's role and scope: an unknown role is a 400 on role_id, a scope type outside
   * global/team/issuer/profile a 400 on scope_type, a missing or unknown team/issuer/profile a 400 on scope_id.
   */
  async checkGrant(input: GrantInput, manager: EntityManager = this.dataSource.manager): Promise<{ scope_type: GrantScopeType; scope_id: string | null }> {
    const roles: unknown[] = await manager.query('SELECT 1 FROM roles WHERE id = $1', [input.role_id]);
    if (!roles.length) throw ApiError.missingReference('role_id', input.role_id);
    const scopeType = (input.scope_type ?? 'global') as GrantScopeType;
    if (!GRANT_SCOPE_TYPES.includes(scopeType)) throw ApiError.invalidField('scope_type', `must be one of ${GRANT_SCOPE_TYPES.join(', ')}`);
    if (scopeType === 'global') {
      if (input.scope_id !== undefined && input.scope_id !== null && input.scope_id !== '') throw ApiError.invalidField('scope_id', 'must be omitted for a global grant');
      return { scope_type: 'global', scope_id: null };
    }
    if (!input.scope_id) throw ApiError.invalidField('scope_id', `is required for a ${scopeType} grant`);
    const { table } = SCOPE_TABLES[scopeType];
    const found: unknown[] = await manager.query(`SELECT 1 FROM ${table} WHERE id = $1`, [input.scope_id]);
    if (!found.length) throw ApiError.missingReference('scope_id', input.scope_id);
    return { scope_type: scopeType, scope_id: input.scope_id };
  }

  /** Forgets cached grants once the change is committed (as the key cache does on a revoke). */
  forgetCachedGrants(): void {
    this.grants.clear();
  }

  private async change<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } finally {
      this.grants.clear();
    }
  }

  private async editableRole(tx: EntityManager, id: string): Promise<RoleView> {
    const role = await this.getRole(id, tx);
    if (role.built_in) throw ApiError.conflict('BUILT_IN_ROLE', `${id} is a built-in role: it cannot be changed or deleted (make a custom role instead)`);
    return role;
  }
}

/** Unknown permissions are a 400 naming them; duplicates are folded. */
function checkPermissions(permissions: string[], field = 'permissions'): string[] {
  const unknown = permissions.filter((p) => !isPermission(p));
  if (unknown.length) throw ApiError.invalidField(field, `unknown permission ${unknown.join(', ')} (GET /api/v1/auth/permissions lists them)`);
  return [...new Set(permissions)].sort();
}

/** The rows of a DELETE … RETURNING (TypeORM answers [rows, count]). */
function removedRows(result: unknown): Array<Record<string, unknown>> {
  return (Array.isArray(result) && Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : result) as Array<Record<string, unknown>>;
}
