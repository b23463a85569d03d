import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type AcmeOrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
export interface AcmeIdentifier {
  type: 'dns' | 'ip';
  value: string;
}

/** An ACME order (RFC 8555 §7.1.3); at finalize it gets a managed certificate (source ACME) and an issuance job. */
@Entity('acme_orders')
export class AcmeOrderEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') account_id: string;
  @Column('text') profile_id: string;
  @Column('text', { default: 'pending' }) status: AcmeOrderStatus;
  @Column('jsonb') identifiers: AcmeIdentifier[];
  @Column('timestamptz', { nullable: true }) not_before: Date | null;
  @Column('timestamptz', { nullable: true }) not_after: Date | null;
  @Column('timestamptz') expires_at: Date;
  @Column('text', { nullable: true }) csr_pem: string | null;
  @Column('text', { nullable: true }) certificate_id: string | null;
  @Column('text', { nullable: true }) job_id: string | null;
  @Column('text', { nullable: true }) certificate_version_id: string | null;
  @Column('text', { nullable: true }) replaces: string | null;
  /** The version `replaces` named (RFC 9773), once resolved; written and read by SQL only. */
  @Column('text', { nullable: true, select: false }) replaces_version_id: string | null;
  /** When the client first fetched its certificate (a re-issue drill revokes the replaced serial after that). */
  @Column('timestamptz', { nullable: true, select: false }) downloaded_at: Date | null;
  @Column('jsonb', { nullable: true }) error: Record<string, unknown> | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
