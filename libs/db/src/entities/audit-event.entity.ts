import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ActorType, AuditCategory } from '@certctl/contracts';

/** Append-only: the database refuses UPDATE and DELETE, and fills seq, prev_hash and row_hash itself. */
@Entity('audit_events')
export class AuditEventEntity {
  @PrimaryColumn('text') id: string;
  /** Position in the hash chain, assigned when the inserting transaction commits. */
  @Column({ type: 'bigint', insert: false, update: false, nullable: true }) seq: string | null;
  @Column('text') actor: string;
  @Column('text') actor_type: ActorType;
  @Column('text') action: string;
  @Column('text') resource_type: string;
  @Column('text', { default: '' }) resource_id: string;
  @Column('text', { default: 'cert_lifecycle' }) event_category: AuditCategory;
  @Column('jsonb') details: Record<string, unknown>;
  @Column('timestamptz', { default: () => 'now()' }) timestamp: Date;
  @Column({ type: 'text', insert: false, update: false }) prev_hash: string;
  @Column({ type: 'text', insert: false, update: false }) row_hash: string;
  /** The team of the resource, filled by the database on insert (scoping); outside the hash chain, not in the API's shape. */
  @Column({ type: 'text', nullable: true, select: false, update: false }) team_id: string | null;
}
