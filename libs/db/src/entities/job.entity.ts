import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { JobStatus, JobType, VerificationStatus } from '@certctl/contracts';

@Entity('jobs')
export class JobEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') type: JobType;
  @Column('text') certificate_id: string;
  @Column('text', { nullable: true }) target_id: string | null;
  @Column('text', { nullable: true }) agent_id: string | null;
  @Column('text', { default: 'Pending' }) status: JobStatus;
  @Column('integer', { default: 0 }) attempts: number;
  @Column('integer', { default: 3 }) max_attempts: number;
  @Column('text', { nullable: true }) last_error: string | null;
  @Column('jsonb', { nullable: true }) deployment_result: Record<string, unknown> | null;
  @Column('timestamptz', { default: () => 'now()' }) scheduled_at: Date;
  @Column('timestamptz', { nullable: true }) started_at: Date | null;
  @Column('timestamptz', { nullable: true }) completed_at: Date | null;
  @Column('text', { nullable: true }) verification_status: VerificationStatus | null;
  @Column('timestamptz', { nullable: true }) verified_at: Date | null;
  @Column('text', { nullable: true }) verification_fingerprint: string | null;
  @Column('text', { nullable: true }) verification_error: string | null;
  /** The CSR an agent submitted for this job (agent keygen mode). */
  @Column('text', { nullable: true }) csr_pem: string | null;
  /** Who asked for the job: an API key name, or `system` for the renewal sweep. */
  @Column('text', { default: '' }) requested_by: string;
  @Column('text', { nullable: true }) decided_by: string | null;
  @Column('text', { nullable: true }) decision_note: string | null;
  /** Why a Pending job waits (e.g. "waiting for CA budget …"); it runs again at scheduled_at. */
  @Column('text', { nullable: true }) wait_reason: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
