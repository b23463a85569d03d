import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type AcmeAccountStatus = 'valid' | 'deactivated' | 'revoked';

/** An ACME client's account on one certificate profile, keyed by its JWK thumbprint (RFC 7638). */
@Entity('acme_accounts')
export class AcmeAccountEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') profile_id: string;
  @Column('text') jwk_thumbprint: string;
  @Column('jsonb') jwk: Record<string, unknown>;
  @Column('text', { array: true, default: () => "'{}'" }) contact: string[];
  @Column('text', { default: 'valid' }) status: AcmeAccountStatus;
  @Column('text', { nullable: true }) eab_key_id: string | null;
  @Column('text', { nullable: true }) team_id: string | null;
  @Column('text', { nullable: true }) owner_id: string | null;
  /** The account URL given to the client (RFC 8657 accounturi is matched against it). */
  @Column('text', { nullable: true, select: false }) url: string | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
