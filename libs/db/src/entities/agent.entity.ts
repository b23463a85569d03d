import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { AgentStatus } from '@certctl/contracts';

@Entity('agents')
export class AgentEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text', { default: '' }) hostname: string;
  @Column('text', { default: 'Offline' }) status: AgentStatus;
  @Column('timestamptz', { nullable: true }) last_heartbeat_at: Date | null;
  @Column('timestamptz', { default: () => 'now()' }) registered_at: Date;
  @Column('text', { default: '' }) os: string;
  @Column('text', { default: '' }) architecture: string;
  @Column('text', { default: '' }) ip_address: string;
  @Column('text', { default: '' }) version: string;
  @Column('timestamptz', { nullable: true }) retired_at: Date | null;
  @Column('text', { nullable: true }) retired_reason: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
