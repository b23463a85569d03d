import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('certificate_versions')
export class CertificateVersionEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') certificate_id: string;
  @Column('text') serial_number: string;
  @Column('timestamptz') not_before: Date;
  @Column('timestamptz') not_after: Date;
  @Column('text') fingerprint_sha256: string;
  @Column('text') pem_chain: string;
  @Column('text', { default: '' }) csr_pem: string;
  @Column('text', { default: '' }) key_algorithm: string;
  @Column('integer', { default: 0 }) key_size: number;
  /** Server keygen mode only; never selected unless asked for, never serialised. */
  @Column('bytea', { nullable: true, select: false }) encrypted_private_key: Buffer | null;
  /** The job that issued this version; unique, so a retried job cannot store a second one. */
  @Column('text', { nullable: true }) job_id: string | null;
  /** The CRL shard its serial was given at issuance (null: the issuer was not sharded then). */
  @Column('smallint', { nullable: true, select: false }) crl_shard: number | null;
  /** Set by a re-issue drill: ARI tells this version's ACME client to renew now. */
  @Column('timestamptz', { nullable: true, select: false }) renewal_requested_at: Date | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
