import { MigrationInterface, QueryRunner } from 'typeorm';
import { BUILT_IN_ROLE_DESCRIPTIONS, BUILT_IN_ROLE_NAMES, BUILT_IN_ROLE_PERMISSIONS, PERMISSION_CATALOGUE } from '@certctl/contracts';

/**
 * Roles as sets of dotted permissions, granted to API keys, users and provider groups, globally or within one
 * team, issuer or profile, optionally expiring (certctl-spec §1.6 roles, permissions, role_permissions,
 * actor_roles). The seven built-in roles are seeded (`r-admin` … `r-auditor`) and cannot be deleted. Every key gets
 * its role (api_keys.role, the key's primary role) as a global grant: the existing keys now, new ones by a trigger,
 * so keys made by any path (registration, fixtures) hold their role. A group mapping may now name any role, with
 * a scope and an expiry.
 */
export class RolesAndGrants1765600000000 implements MigrationInterface {
  name = 'RolesAndGrants1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE permissions (
        name text PRIMARY KEY,
        description text NOT NULL DEFAULT ''
      );
      CREATE TABLE roles (
        id text PRIMARY KEY,
        name text NOT NULL UNIQUE,
        description text NOT NULL DEFAULT '',
        built_in boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE role_permissions (
        role_id text NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        permission text NOT NULL REFERENCES permissions(name) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (role_id, permission)
      );
      CREATE TABLE actor_roles (
        id text PRIMARY KEY,
        actor_type text NOT NULL CHECK (actor_type IN ('User', 'APIKey', 'Group')),
        actor_id text NOT NULL,
        role_id text NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        scope_type text NOT NULL DEFAULT 'global' CHECK (scope_type IN ('global', 'team', 'issuer', 'profile')),
        scope_id text,
        expires_at timestamptz,
        granted_by text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT actor_roles_scope_id CHECK ((scope_type = 'global') = (scope_id IS NULL)),
        CONSTRAINT uq_actor_roles UNIQUE NULLS NOT DISTINCT (actor_type, actor_id, role_id, scope_type, scope_id)
      );
      CREATE INDEX actor_roles_actor_idx ON actor_roles (actor_id, actor_type);
      CREATE INDEX actor_roles_role_idx ON actor_roles (role_id);
    `);
    for (const [name, description] of Object.entries(PERMISSION_CATALOGUE)) {
      await q.query('INSERT INTO permissions (name, description) VALUES ($1, $2)', [name, description]);
    }
    for (const role of BUILT_IN_ROLE_NAMES) {
      await q.query('INSERT INTO roles (id, name, description, built_in) VALUES ($1, $2, $3, true)', [`r-${role}`, role, BUILT_IN_ROLE_DESCRIPTIONS[role]]);
      await q.query('INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::text[])', [`r-${role}`, BUILT_IN_ROLE_PERMISSIONS[role]]);
    }
    await q.query(`
      ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_role_check;
      ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'operator', 'viewer', 'auditor', 'agent', 'mcp', 'cli'));
      INSERT INTO actor_roles (id, actor_type, actor_id, role_id, granted_by)
        SELECT 'ar-' || k.id, 'APIKey', k.id, 'r-' || k.role, 'migration' FROM api_keys k;
      CREATE FUNCTION api_key_primary_grant() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO actor_roles (id, actor_type, actor_id, role_id, granted_by)
          VALUES ('ar-' || NEW.id, 'APIKey', NEW.id, 'r-' || NEW.role, NEW.created_by)
          ON CONFLICT DO NOTHING;
        RETURN NEW;
      END $$;
      CREATE TRIGGER api_keys_primary_grant AFTER INSERT ON api_keys FOR EACH ROW EXECUTE FUNCTION api_key_primary_grant();
      CREATE FUNCTION api_key_grants_cleanup() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM actor_roles WHERE actor_type = 'APIKey' AND actor_id = OLD.id;
        RETURN OLD;
      END $$;
      CREATE TRIGGER api_keys_grants_cleanup AFTER DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION api_key_grants_cleanup();

      ALTER TABLE group_role_mappings DROP CONSTRAINT IF EXISTS group_role_mappings_role_check;
      ALTER TABLE group_role_mappings DROP CONSTRAINT IF EXISTS group_role_mappings_provider_id_group_name_role_key;
      ALTER TABLE group_role_mappings
        ADD COLUMN role_id text REFERENCES roles(id) ON DELETE CASCADE,
        ADD COLUMN scope_type text NOT NULL DEFAULT 'global' CHECK (scope_type IN ('global', 'team', 'issuer', 'profile')),
        ADD COLUMN scope_id text,
        ADD COLUMN expires_at timestamptz,
        ADD COLUMN granted_by text NOT NULL DEFAULT '';
      UPDATE group_role_mappings SET role_id = 'r-' || role;
      ALTER TABLE group_role_mappings ALTER COLUMN role_id SET NOT NULL, DROP COLUMN role,
        ADD CONSTRAINT group_role_mappings_scope_id CHECK ((scope_type = 'global') = (scope_id IS NULL)),
        ADD CONSTRAINT uq_group_role_mappings UNIQUE NULLS NOT DISTINCT (provider_id, group_name, role_id, scope_type, scope_id);
      CREATE INDEX group_role_mappings_role_idx ON group_role_mappings (role_id);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE group_role_mappings ADD COLUMN role text;
      UPDATE group_role_mappings m SET role = r.name FROM roles r WHERE r.id = m.role_id;
      DELETE FROM group_role_mappings WHERE role IS NULL OR role NOT IN ('admin', 'operator', 'viewer', 'auditor');
      DELETE FROM group_role_mappings a USING group_role_mappings b WHERE a.id > b.id AND a.provider_id = b.provider_id AND a.group_name = b.group_name AND a.role = b.role;
      ALTER TABLE group_role_mappings DROP CONSTRAINT uq_group_role_mappings, DROP CONSTRAINT group_role_mappings_scope_id,
        DROP COLUMN role_id, DROP COLUMN scope_type, DROP COLUMN scope_id, DROP COLUMN expires_at, DROP COLUMN granted_by,
        ALTER COLUMN role SET NOT NULL, ADD CONSTRAINT group_role_mappings_role_check CHECK (role IN ('admin', 'operator', 'viewer', 'auditor')),
        ADD CONSTRAINT group_role_mappings_provider_id_group_name_role_key UNIQUE (provider_id, group_name, role);
      DROP TRIGGER api_keys_grants_cleanup ON api_keys; DROP FUNCTION api_key_grants_cleanup();
      DROP TRIGGER api_keys_primary_grant ON api_keys; DROP FUNCTION api_key_primary_grant();
      UPDATE api_keys SET role = 'operator' WHERE role IN ('mcp', 'cli');
      ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
      ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'operator', 'viewer', 'auditor', 'agent'));
      DROP TABLE actor_roles; DROP TABLE role_permissions; DROP TABLE roles; DROP TABLE permissions;
    `);
  }
}
