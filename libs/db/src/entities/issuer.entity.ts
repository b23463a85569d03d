import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity('issuers')
export class IssuerEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text') type: string;
  @Column('jsonb') config: Record<string, unknown>;
  /** Secrets of the config, AES-256-GCM; never serialised. */
  @Column('bytea', { nullable: true, select: false }) encrypted_config: Buffer | null;
  @Column('boolean', { default: true }) enabled: boolean;
  @Column('text', { default: 'untested' }) test_status: string;
  @Column('timestamptz', { nullable: true }) last_tested_at: Date | null;
  @Column('text', { default: 'database' }) source: string;
  /**
   * Bumped by a trigger in every transaction that changes the issuer's revocations; OCSP answers are cached under it.
   * Never written through the entity: a save of a row read before a revocation would put an old value back.
   */
  @Column({ type: 'bigint', default: 0, insert: false, update: false, select: false }) revocation_generation: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
