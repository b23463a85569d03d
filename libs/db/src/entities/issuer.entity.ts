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
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
