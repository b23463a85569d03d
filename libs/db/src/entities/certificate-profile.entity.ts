import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export interface AllowedKeyAlgorithm {
  algorithm: string;
  min_size: number;
}

@Entity('certificate_profiles')
export class CertificateProfileEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text', { default: '' }) description: string;
  @Column('jsonb') allowed_key_algorithms: AllowedKeyAlgorithm[];
  @Column('integer', { default: 0 }) max_ttl_seconds: number;
  @Column('jsonb') allowed_ekus: string[];
  @Column('jsonb') required_san_patterns: string[];
  @Column('text', { default: '' }) spiffe_uri_pattern: string;
  @Column('boolean', { default: false }) allow_short_lived: boolean;
  @Column('boolean', { default: false }) must_staple: boolean;
  @Column('boolean', { default: false }) requires_approval: boolean;
  /** Four eyes on the profile itself: a PUT becomes a `profile_edit` approval request, applied once someone else approves. */
  @Column('boolean', { default: false }) edits_require_approval: boolean;
  @Column('boolean', { default: true }) enabled: boolean;
  /** ACME server: `challenge` (prove control of each identifier) or `trust_authenticated` (EAB-bound accounts issue without). */
  @Column('text', { default: 'challenge' }) acme_auth_mode: 'trust_authenticated' | 'challenge';
  /** ACME server: the issuer that signs this profile's ACME orders (null: the profile is not served over ACME). */
  @Column('text', { nullable: true }) acme_issuer_id: string | null;
  @Column('boolean', { default: false }) acme_external_account_required: boolean;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
