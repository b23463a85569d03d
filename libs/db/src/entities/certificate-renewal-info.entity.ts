import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** The CA's ARI renewal window (RFC 9773) for a certificate's newest version; written by the orchestrator. */
@Entity('certificate_renewal_info')
export class CertificateRenewalInfoEntity {
  @PrimaryColumn('text') certificate_id: string;
  @Column('text', { nullable: true }) certificate_version_id: string | null;
  @Column('text', { default: '' }) ari_cert_id: string;
  @Column('timestamptz', { nullable: true }) window_start: Date | null;
  @Column('timestamptz', { nullable: true }) window_end: Date | null;
  /** Picked uniformly at random inside the window, once per window. */
  @Column('timestamptz', { nullable: true }) selected_renewal_at: Date | null;
  @Column('text', { nullable: true }) explanation_url: string | null;
  @Column('timestamptz', { nullable: true }) last_polled_at: Date | null;
  @Column('timestamptz') next_poll_at: Date;
  @Column('text', { nullable: true }) last_error: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
