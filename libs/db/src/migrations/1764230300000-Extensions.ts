import { MigrationInterface, QueryRunner } from 'typeorm';

/** pg_trgm backs the free-text search over certificate names, common names and SANs. */
export class Extensions1764230300000 implements MigrationInterface {
  name = 'Extensions1764230300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP EXTENSION IF EXISTS pg_trgm');
  }
}
