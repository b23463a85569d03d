import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { PolicyRuleType, PolicySeverity } from '@certctl/contracts';

@Entity('policy_rules')
export class PolicyRuleEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text') type: PolicyRuleType;
  @Column('jsonb') config: Record<string, unknown>;
  @Column('boolean', { default: true }) enabled: boolean;
  @Column('text', { default: 'Warning' }) severity: PolicySeverity;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
