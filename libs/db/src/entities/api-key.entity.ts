import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { ApiKeyRole } from '@certctl/contracts';

/** Only the SHA-256 of a key is stored; the key itself is shown once, at creation. */
@Entity('api_keys')
export class ApiKeyEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text', { select: false }) key_hash: string;
  @Column('text') role: ApiKeyRole;
  @Column('text', { nullable: true }) agent_id: string | null;
  @Column('text', { default: '' }) created_by: string;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @Column('timestamptz', { nullable: true }) expires_at: Date | null;
  @Column('timestamptz', { nullable: true }) last_used_at: Date | null;
  @Column('timestamptz', { nullable: true }) revoked_at: Date | null;
}
