import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { AcmeIdentifier } from './acme-order.entity';

export type AcmeAuthorizationStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';

/** The account's authorization for one identifier of an order (RFC 8555 §7.1.4). */
@Entity('acme_authorizations')
export class AcmeAuthorizationEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') order_id: string;
  @Column('text') account_id: string;
  @Column('jsonb') identifier: AcmeIdentifier;
  @Column('text', { default: 'pending' }) status: AcmeAuthorizationStatus;
  @Column('boolean', { default: false }) wildcard: boolean;
  @Column('timestamptz') expires_at: Date;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
