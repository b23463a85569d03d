import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity('renewal_policies')
export class RenewalPolicyEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('integer', { default: 30 }) renewal_window_days: number;
  @Column('boolean', { default: true }) auto_renew: boolean;
  @Column('integer', { default: 3 }) max_retries: number;
  @Column('integer', { default: 3600 }) retry_interval_seconds: number;
  @Column('jsonb') alert_thresholds_days: number[];
  @Column('text', { nullable: true }) certificate_profile_id: string | null;
  /** The agent group this policy is scoped to (certctl's agent_group_id). */
  @Column('text', { nullable: true }) agent_group_id: string | null;
  /** Channels per severity tier, e.g. `{"critical": ["PagerDuty", "Email"]}`. */
  @Column('jsonb') alert_channels: Record<string, string[]>;
  /** Tier per threshold in days, e.g. `{"7": "critical"}`. */
  @Column('jsonb') alert_severity_map: Record<string, string>;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
