import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The dashboard's 30-day trends read finished jobs by completion time and issued versions by creation time;
 * without these indexes each would scan the whole table, which at a million certificates takes seconds.
 */
export class DashboardTrendIndexes1765300000000 implements MigrationInterface {
  name = 'DashboardTrendIndexes1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE INDEX idx_jobs_finished_at ON jobs (completed_at) WHERE status IN ('Completed', 'Failed');
      CREATE INDEX idx_certificate_versions_created ON certificate_versions (created_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS idx_certificate_versions_created; DROP INDEX IF EXISTS idx_jobs_finished_at;`);
  }
}
