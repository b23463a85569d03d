import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-CA budgets (issue 22). `issuer_budget_spends` is the durable record of every slot taken from an issuer's rate
 * limits (one row per limit and scope: the account, a registered domain, an exact set of names). Redis holds the
 * same slots as sliding windows for the atomic check shared by every orchestrator; when Redis loses them, they are
 * rebuilt from these rows, so a flush never lets more through than the CA allows. `jobs.wait_reason` says why a
 * Pending job is not running yet ("waiting for CA budget …"); its scheduled_at is when it runs again.
 */
export class IssuerBudgets1765540000000 implements MigrationInterface {
  name = 'IssuerBudgets1765540000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE issuer_budget_spends (
        id bigserial PRIMARY KEY,
        issuer_id text NOT NULL REFERENCES issuers(id) ON DELETE CASCADE,
        limit_name text NOT NULL,
        scope_key text NOT NULL,
        member text NOT NULL,
        spent_at timestamptz NOT NULL,
        reserved_by text NOT NULL DEFAULT ''
      );
      CREATE INDEX idx_issuer_budget_spends_window ON issuer_budget_spends (issuer_id, limit_name, scope_key, spent_at);
      CREATE INDEX idx_issuer_budget_spends_member ON issuer_budget_spends (member);
      ALTER TABLE jobs ADD COLUMN wait_reason text;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE jobs DROP COLUMN wait_reason;
      DROP TABLE issuer_budget_spends;
    `);
  }
}
