import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** An External Account Binding key (RFC 8555 §7.3.4): binds the ACME account it registers to a team and an owner. */
@Entity('acme_eab_keys')
export class AcmeEabKeyEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') profile_id: string;
  @Column('text', { nullable: true }) team_id: string | null;
  @Column('text') owner_id: string;
  /** AES-256-GCM under CERTCTL_CONFIG_ENCRYPTION_KEY; never selected unless asked for, never serialised. */
  @Column('bytea', { select: false }) encrypted_hmac: Buffer;
  @Column('timestamptz', { nullable: true }) expires_at: Date | null;
  @Column('timestamptz', { nullable: true }) revoked_at: Date | null;
  @Column('text', { nullable: true }) account_id: string | null;
  @Column('text', { default: '' }) created_by: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
}
