import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A CIDR/port sweep definition, scanned every `scan_interval_hours` by the scanner (certctl M21). */
@Entity('network_scan_targets')
export class NetworkScanTargetEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('text', { array: true }) cidrs: string[];
  @Column('integer', { array: true, default: () => "'{443}'" }) ports: number[];
  /** Server names sent as SNI, one handshake per name; empty = one handshake without SNI. */
  @Column('text', { array: true, default: () => "'{}'" }) sni_hostnames: string[];
  @Column('boolean', { default: true }) enabled: boolean;
  @Column('integer', { default: 6 }) scan_interval_hours: number;
  /** Connect timeout and, separately, handshake timeout of each probe. */
  @Column('integer', { default: 5000 }) timeout_ms: number;
  /** New connections per second of a scan of this target; null = CERTCTL_NETWORK_SCAN_RATE_LIMIT. */
  @Column('integer', { nullable: true }) rate_limit_per_second: number | null;
  @Column('timestamptz', { nullable: true }) last_scan_at: Date | null;
  @Column('integer', { nullable: true }) last_scan_duration_ms: number | null;
  @Column('integer', { nullable: true }) last_scan_certs_found: number | null;
  /** When the scheduler starts the next scan; null = as soon as it looks. */
  @Column('timestamptz', { nullable: true }) next_scan_at: Date | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
