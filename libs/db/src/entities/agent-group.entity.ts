import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Agents matched by every non-empty criterion, plus manual includes, minus manual excludes (certctl §10.5). */
@Entity('agent_groups')
export class AgentGroupEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text', { default: '' }) description: string;
  @Column('text', { default: '' }) match_os: string;
  @Column('text', { default: '' }) match_architecture: string;
  @Column('text', { default: '' }) match_ip_cidr: string;
  /** Exact, or a prefix ending in `*` (`1.4.*`). */
  @Column('text', { default: '' }) match_version: string;
  @Column('boolean', { default: true }) enabled: boolean;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}

export const MEMBERSHIP_TYPES = ['include', 'exclude'] as const;

@Entity('agent_group_members')
export class AgentGroupMemberEntity {
  @PrimaryColumn('text') agent_group_id: string;
  @PrimaryColumn('text') agent_id: string;
  @Column('text', { default: 'include' }) membership_type: (typeof MEMBERSHIP_TYPES)[number];
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
