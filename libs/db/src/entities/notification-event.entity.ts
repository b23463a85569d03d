import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { NotificationStatus } from '@certctl/contracts';

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
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
