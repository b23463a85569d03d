import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { NotificationStatus } from '@certctl/contracts';

export interface NotificationDetails {
  certificate_id?: string;
  certificate_name?: string;
  common_name?: string;
  expires_at?: string | null;
  threshold_days?: number;
  /** Severity tier of the alert ('critical', 'warning', 'info' or a policy's own tier name). */
  severity?: string;
}

@Entity('notification_events')
export class NotificationEventEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') type: string;
  @Column('text', { nullable: true }) certificate_id: string | null;
  @Column('text') channel: string;
  @Column('text', { default: '' }) recipient: string;
  @Column('text', { default: '' }) message: string;
  @Column('timestamptz', { nullable: true }) sent_at: Date | null;
  @Column('text', { default: 'pending' }) status: NotificationStatus;
  @Column('text', { nullable: true }) error: string | null;
  @Column('integer', { default: 0 }) retry_count: number;
  @Column('timestamptz', { nullable: true }) next_retry_at: Date | null;
  @Column('text', { nullable: true }) last_error: string | null;
  /** What was known when the alert was raised, so it can be delivered after its certificate is gone. */
  @Column('jsonb', { default: {} }) details: NotificationDetails;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
