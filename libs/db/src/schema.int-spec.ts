import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { dataSourceOptions, migrationsApplied } from './data-source';
import { MIGRATIONS } from './migrations';

/** The migrated schema on a real PostgreSQL: tables, constraints and indexes the API depends on. */
describe('schema migrations', () => {
  let env: TestEnvironment;
  let db: Client;
  let ds: DataSource;

  beforeAll(async () => {
    env = await createTestEnvironment();
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    ds = await new DataSource(dataSourceOptions({ url: env.databaseUrl })).initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.end();
    await env?.destroy();
  });

  it('creates every table of the data model', async () => {
    const { rows } = await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
    expect(rows.map((r) => r.table_name)).toEqual(expect.arrayContaining([
      'teams', 'owners', 'renewal_policies', 'certificate_profiles', 'issuers', 'agents', 'managed_certificates',
      'certificate_versions', 'deployment_targets', 'certificate_target_mappings', 'jobs', 'policy_rules',
      'policy_violations', 'notification_events', 'audit_events', 'audit_chain_head', 'api_keys',
    ]));
    expect(await migrationsApplied(ds)).toBe(true);
  });

  it('has a column of the right type and nullability for every entity property (no entity/migration drift)', async () => {
    // Constraints, indexes and defaults live in the migrations only; the entities must agree on the columns.
    const { rows } = await db.query(
      `SELECT table_name, column_name, is_nullable, udt_name FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    const actual = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r]));
    const udt: Record<string, string> = { text: 'text', jsonb: 'jsonb', boolean: 'bool', integer: 'int4', bigint: 'int8', smallint: 'int2', timestamptz: 'timestamptz', bytea: 'bytea' };
    const problems: string[] = [];
    for (const entity of ds.entityMetadatas) {
      for (const column of entity.columns) {
        const key = `${entity.tableName}.${column.databaseName}`;
        const found = actual.get(key);
        const type = String(column.type === Date ? 'timestamptz' : column.type);
        const expected = column.isArray ? `_${udt[type]}` : udt[type];
        if (!found) problems.push(`${key} is missing`);
        else if (found.udt_name !== expected) problems.push(`${key} is ${found.udt_name}, entity says ${expected}`);
        else if ((found.is_nullable === 'YES') !== column.isNullable) problems.push(`${key} nullability differs`);
      }
      const declared = new Set(entity.columns.map((c) => c.databaseName));
      for (const [key, row] of actual) {
        if (row.table_name === entity.tableName && !declared.has(row.column_name)) problems.push(`${key} has no entity property`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('indexes every column the API filters or sorts on', async () => {
    const { rows } = await db.query(`SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'`);
    const indexed = (table: string, column: string) =>
      rows.some((r) => r.tablename === table && new RegExp(`\\((?:${column}|"${column}")[,) ]`).test(r.indexdef));
    const filters: Array<[string, string]> = [
      ['managed_certificates', 'status'], ['managed_certificates', 'owner_id'], ['managed_certificates', 'team_id'],
      ['managed_certificates', 'issuer_id'], ['managed_certificates', 'environment'], ['managed_certificates', 'expires_at'],
      ['managed_certificates', 'certificate_profile_id'], ['managed_certificates', 'created_at'], ['managed_certificates', 'name'],
      ['jobs', 'status'], ['jobs', 'certificate_id'], ['jobs', 'type'], ['jobs', 'agent_id'], ['jobs', 'target_id'],
      ['owners', 'team_id'], ['deployment_targets', 'agent_id'], ['deployment_targets', 'type'], ['issuers', 'type'],
      ['agents', 'status'], ['audit_events', 'timestamp'], ['audit_events', 'resource_type'], ['audit_events', 'actor'],
      ['notification_events', 'status'], ['notification_events', 'certificate_id'], ['policy_violations', 'rule_id'],
      ['certificate_versions', 'certificate_id'], ['certificate_target_mappings', 'target_id'],
    ];
    const missing = filters.filter(([t, c]) => !indexed(t, c));
    expect(missing).toEqual([]);
    expect(rows.some((r) => r.tablename === 'managed_certificates' && r.indexdef.includes('gin_trgm_ops'))).toBe(true);
  });

  it('enforces certctl enums with CHECK constraints', async () => {
    await db.query(`INSERT INTO teams (id, name) VALUES ('team-x', 'x')`);
    await db.query(`INSERT INTO owners (id, name, email) VALUES ('owner-x', 'x', 'x@example.com')`);
    await db.query(`INSERT INTO issuers (id, name, type) VALUES ('iss-x', 'x', 'GenericCA')`);
    await expect(db.query(`INSERT INTO managed_certificates (id, name, common_name, owner_id, issuer_id, renewal_policy_id, status)
      VALUES ('mc-x', 'x', 'x', 'owner-x', 'iss-x', 'rp-default', 'Bogus')`)).rejects.toThrow(/check constraint/);
    await expect(db.query(`INSERT INTO policy_rules (id, name, type, severity) VALUES ('pr-x', 'x', 'AllowedIssuers', 'Meh')`)).rejects.toThrow(/check constraint/);
    await expect(db.query(`INSERT INTO notification_events (id, type, channel, status) VALUES ('n-x', 'x', 'Email', 'lost')`)).rejects.toThrow(/check constraint/);
  });

  it('keeps search_text in step with name, common name and SANs', async () => {
    await db.query(`INSERT INTO managed_certificates (id, name, common_name, sans, owner_id, issuer_id, renewal_policy_id)
      VALUES ('mc-s', 'Shop', 'Shop.Example.com', '{api.example.com}', 'owner-x', 'iss-x', 'rp-default')`);
    const { rows } = await db.query(`SELECT search_text FROM managed_certificates WHERE id = 'mc-s'`);
    expect(rows[0].search_text).toBe('shop shop.example.com api.example.com');
  });

  it('rolls back and re-applies cleanly', async () => {
    await db.query(`DELETE FROM managed_certificates; DELETE FROM owners; DELETE FROM issuers; DELETE FROM teams;`);
    // Every migration's down() runs, newest first, until none is applied.
    for (let i = 0; i < MIGRATIONS.length; i++) await ds.undoLastMigration();
    expect(await migrationsApplied(ds)).toBe(false);
    expect((await db.query(`SELECT count(*)::int AS n FROM typeorm_migrations`)).rows[0].n).toBe(0);
    const gone = await db.query(`SELECT to_regclass('public.managed_certificates') AS t`);
    expect(gone.rows[0].t).toBeNull();
    await ds.runMigrations();
    expect(await migrationsApplied(ds)).toBe(true);
  });
});
