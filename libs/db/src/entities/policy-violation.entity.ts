import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { PolicySeverity } from '@certctl/contracts';

@Entity('policy_violations')
export class PolicyViolationEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') certificate_id: string;
  @Column('text') rule_id: string;
  @Column('text') message: string;
  @Column('text') severity: PolicySeverity;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
