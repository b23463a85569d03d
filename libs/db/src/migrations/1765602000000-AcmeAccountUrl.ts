import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `acme_accounts.url`: the account URL the client was given at new-account (its `kid`, on the origin and route
 * prefix it used). CAA's RFC 8657 `accounturi` names exactly that URL, and the orchestrator, which validates
 * challenges off the request, has no request to build it from. Null for accounts made before this column.
 */
export class AcmeAccountUrl1765602000000 implements MigrationInterface {
  name = 'AcmeAccountUrl1765602000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE acme_accounts ADD COLUMN url text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE acme_accounts DROP COLUMN IF EXISTS url`);
  }
}
