import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `issuers.revocation_generation`: bumped in the same transaction as every change to the issuer's revocations (a
 * statement trigger, so every path that revokes — the api, the ACME server, a re-issue drill, SQL by hand — bumps
 * it). OCSP answers are cached under it: it lives in PostgreSQL, so it never goes back when Redis loses its data
 * (a Redis counter did, and a replica then served its old in-memory "good" answers for revoked serials), and it
 * moves even when Redis is down at the moment of a revocation.
 */
export class RevocationGeneration1765590000000 implements MigrationInterface {
  name = 'RevocationGeneration1765590000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE issuers ADD COLUMN revocation_generation bigint NOT NULL DEFAULT 0;

      CREATE FUNCTION bump_issuer_revocation_generation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE issuers SET revocation_generation = revocation_generation + 1 WHERE id IN (SELECT DISTINCT issuer_id FROM changed);
        RETURN NULL;
      END $$;
      CREATE TRIGGER certificate_revocations_generation_insert AFTER INSERT ON certificate_revocations
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_issuer_revocation_generation();
      CREATE TRIGGER certificate_revocations_generation_update AFTER UPDATE ON certificate_revocations
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_issuer_revocation_generation();
      CREATE TRIGGER certificate_revocations_generation_delete AFTER DELETE ON certificate_revocations
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_issuer_revocation_generation();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER certificate_revocations_generation_insert ON certificate_revocations;
      DROP TRIGGER certificate_revocations_generation_update ON certificate_revocations;
      DROP TRIGGER certificate_revocations_generation_delete ON certificate_revocations;
      DROP FUNCTION bump_issuer_revocation_generation();
      ALTER TABLE issuers DROP COLUMN revocation_generation;
    `);
  }
}
