import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { CertificateStatus } from '@certctl/contracts';

@Entity('managed_certificates')
export class ManagedCertificateEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text') common_name: string;
  @Column('text', { array: true, default: () => "'{}'" }) sans: string[];
  @Column('text', { default: '' }) environment: string;
  @Column('text') owner_id: string;
  @Column('text', { nullable: true }) team_id: string | null;
  @Column('text') issuer_id: string;
  @Column('text') renewal_policy_id: string;
  @Column('text', { nullable: true }) certificate_profile_id: string | null;
  @Column('text', { default: 'Pending' }) status: CertificateStatus;
  @Column('timestamptz', { nullable: true }) expires_at: Date | null;
  @Column('jsonb') tags: Record<string, string>;
  @Column('timestamptz', { nullable: true }) last_renewal_at: Date | null;
  @Column('timestamptz', { nullable: true }) last_deployment_at: Date | null;
  @Column('timestamptz', { nullable: true }) revoked_at: Date | null;
  @Column('text', { nullable: true }) revocation_reason: string | null;
  @Column('text', { default: '' }) source: string;
  /** Maintained by a trigger for free-text search; internal. */
  @Column({ type: 'text', select: false, insert: false, update: false }) search_text: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
