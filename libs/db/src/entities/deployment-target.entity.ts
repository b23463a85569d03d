import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity('deployment_targets')
export class DeploymentTargetEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text') type: string;
  /** NULL: the orchestrator deploys it (SSH, Kubernetes, local files); otherwise that agent does. */
  @Column('text', { nullable: true }) agent_id: string | null;
  /** The owning team (NULL: none; scoped callers then see it only through a mapped certificate of their scope). */
  @Column('text', { nullable: true }) team_id: string | null;
  @Column('jsonb') config: Record<string, unknown>;
  @Column('bytea', { nullable: true, select: false }) encrypted_config: Buffer | null;
  @Column('boolean', { default: true }) enabled: boolean;
  @Column('text', { default: 'untested' }) test_status: string;
  @Column('timestamptz', { nullable: true }) last_tested_at: Date | null;
  @Column('text', { default: 'database' }) source: string;
  @Column('timestamptz', { nullable: true }) retired_at: Date | null;
  @Column('text', { nullable: true }) retired_reason: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
