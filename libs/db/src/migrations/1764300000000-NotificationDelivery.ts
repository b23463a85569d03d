import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notification delivery:
 *  - an alert outlives its certificate: deleting the certificate no longer deletes its pending alerts
 *    (ON DELETE SET NULL instead of CASCADE), so "certificate X was revoked" still reaches people;
 *  - `details` keeps what was known when the alert was raised (certificate name, common name, expiry,
 *    threshold, severity tier), so the message can be written even after the certificate is gone.
 */
export class NotificationDelivery1764300000000 implements MigrationInterface {
  name = 'NotificationDelivery1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE notification_events DROP CONSTRAINT notification_events_certificate_id_fkey;
      ALTER TABLE notification_events ADD CONSTRAINT notification_events_certificate_id_fkey
        FOREIGN KEY (certificate_id) REFERENCES managed_certificates(id) ON DELETE SET NULL;
      ALTER TABLE notification_events ADD COLUMN details jsonb NOT NULL DEFAULT '{}'::jsonb;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE notification_events DROP COLUMN details;
      ALTER TABLE notification_events DROP CONSTRAINT notification_events_certificate_id_fkey;
      ALTER TABLE notification_events ADD CONSTRAINT notification_events_certificate_id_fkey
        FOREIGN KEY (certificate_id) REFERENCES managed_certificates(id) ON DELETE CASCADE;
    `);
  }
}
