import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const DISCOVERED_CERTIFICATE_STATUSES = ['Unmanaged', 'Managed', 'Dismissed'] as const;
export type DiscoveredCertificateStatus = (typeof DISCOVERED_CERTIFICATE_STATUSES)[number];
export const SOURCE_FORMATS = ['PEM', 'DER', 'network'] as const;

/**
 * A certificate found in the wild, keyed by (fingerprint, source agent, source_path): `ip:port` for the
 * network scanner (agent `server-scanner`), a file path for agents.
 */
@Entity('discovered_certificates')
export class DiscoveredCertificateEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') fingerprint_sha256: string;
  @Column('text', { default: '' }) common_name: string;
  @Column('text', { array: true, default: () => "'{}'" }) sans: string[];
  @Column('text', { default: '' }) serial_number: string;
  @Column('text', { default: '' }) issuer_dn: string;
  @Column('text', { default: '' }) subject_dn: string;
  @Column('timestamptz', { nullable: true }) not_before: Date | null;
  @Column('timestamptz', { nullable: true }) not_after: Date | null;
  @Column('text', { default: '' }) key_algorithm: string;
  @Column('integer', { default: 0 }) key_size: number;
  @Column('boolean', { default: false }) is_ca: boolean;
  /** The certificate itself. */
  @Column('text', { default: '' }) pem_data: string;
  /** The whole chain as presented (leaf first); for files, what the file held. */
  @Column('text', { default: '' }) pem_chain: string;
  @Column('integer', { default: 1 }) chain_length: number;
  @Column('text') source_path: string;
  @Column('text', { default: 'PEM' }) source_format: string;
  @Column('text') agent_id: string;
  @Column('text', { nullable: true }) discovery_scan_id: string | null;
  /** Set on claim, or automatically when the fingerprint is a version of a managed certificate. */
  @Column('text', { nullable: true }) managed_certificate_id: string | null;
  /** The managed certificate this endpoint (or this name) should serve, when it serves something else. */
  @Column('text', { nullable: true }) mismatched_certificate_id: string | null;
  @Column('text', { default: 'Unmanaged' }) status: DiscoveredCertificateStatus;
  @Column('timestamptz', { default: () => 'now()' }) first_seen_at: Date;
  @Column('timestamptz', { default: () => 'now()' }) last_seen_at: Date;
  @Column('timestamptz', { nullable: true }) dismissed_at: Date | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
