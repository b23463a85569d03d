import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `skipped`: an alert for a channel that is not configured where it would be sent (Email without an SMTP host, say).
 * Nothing was tried, so it is neither `failed` nor `dead`; last_error says why, and a requeue makes it pending again.
 */
export class NotificationSkipped1765400000000 implements MigrationInterface {
  name = 'NotificationSkipped1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE notification_events DROP CONSTRAINT notification_events_status_check;
      ALTER TABLE notification_events ADD CONSTRAINT notification_events_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'dead', 'read', 'skipped'));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      UPDATE notification_events SET status = 'failed' WHERE status = 'skipped';
      ALTER TABLE notification_events DROP CONSTRAINT notification_events_status_check;
      ALTER TABLE notification_events ADD CONSTRAINT notification_events_status_check
        CHECK (status IN ('pending', 'sent', 'failed', 'dead', 'read'));
    `);
  }
}
