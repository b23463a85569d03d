import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type AcmeChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';
export type AcmeChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';

/** One way to prove control of an authorization's identifier (RFC 8555 §8). */
@Entity('acme_challenges')
export class AcmeChallengeEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') authorization_id: string;
  @Column('text') type: AcmeChallengeType;
  @Column('text', { default: 'pending' }) status: AcmeChallengeStatus;
  @Column('text') token: string;
  @Column('timestamptz', { nullable: true }) validated_at: Date | null;
  @Column('jsonb', { nullable: true }) error: Record<string, unknown> | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
