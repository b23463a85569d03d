import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * certctl's agent groups (spec §1.1, migration 004): dynamic membership by OS, architecture, IP CIDR and version
 * (all empty = manual only) with manual include/exclude overrides, and renewal policies scoped to a group.
 */
export class AgentGroups1764900100000 implements MigrationInterface {
  name = 'AgentGroups1764900100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE agent_groups (
        id text PRIMARY KEY,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        match_os text NOT NULL DEFAULT '',
        match_architecture text NOT NULL DEFAULT '',
        match_ip_cidr text NOT NULL DEFAULT '' CHECK (match_ip_cidr = '' OR match_ip_cidr::inet IS NOT NULL),
        match_version text NOT NULL DEFAULT '',
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_agent_groups_name UNIQUE (name)
      );

      CREATE TABLE agent_group_members (
        agent_group_id text NOT NULL REFERENCES agent_groups(id) ON DELETE CASCADE,
        agent_id text NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        membership_type text NOT NULL DEFAULT 'include' CHECK (membership_type IN ('include', 'exclude')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (agent_group_id, agent_id)
      );
      CREATE INDEX idx_agent_group_members_agent ON agent_group_members (agent_id);

      ALTER TABLE renewal_policies ADD COLUMN agent_group_id text REFERENCES agent_groups(id) ON DELETE SET NULL;
      CREATE INDEX idx_renewal_policies_agent_group ON renewal_policies (agent_group_id) WHERE agent_group_id IS NOT NULL;

      -- An agent's reported address as inet, or NULL when it is not one (agents report free text).
      CREATE FUNCTION certctl_try_inet(address text) RETURNS inet LANGUAGE plpgsql IMMUTABLE AS $fn$
      BEGIN
        RETURN address::inet;
      EXCEPTION WHEN others THEN
        RETURN NULL;
      END
      $fn$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE renewal_policies DROP COLUMN IF EXISTS agent_group_id;
      DROP TABLE IF EXISTS agent_group_members, agent_groups;
      DROP FUNCTION IF EXISTS certctl_try_inet;
    `);
  }
}
