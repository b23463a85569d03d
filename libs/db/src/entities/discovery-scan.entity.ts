import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const DISCOVERY_SCAN_STATUSES = ['Pending', 'Running', 'Completed', 'Cancelled', 'Failed'] as const;
export type DiscoveryScanStatus = (typeof DISCOVERY_SCAN_STATUSES)[number];
/** A scan in one of these states holds its target: no second scan of it starts. */
export const ACTIVE_SCAN_STATUSES: readonly DiscoveryScanStatus[] = ['Pending', 'Running'];

/** Progress of one shard, so that a retried shard replaces its earlier contribution instead of adding to it. */
export interface ShardProgress {
  done: number;
  found: number;
  errors: number;
  complete?: boolean;
}

/**
 * One discovery run: a network scan (sharded over the scan queue) or an agent's filesystem report.
 * `directories` holds the CIDRs of a network scan, as upstream. Progress lives here, never in Redis.
 */
@Entity('discovery_scans')
export class DiscoveryScanEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') agent_id: string;
  @Column('text', { nullable: true }) network_scan_target_id: string | null;
  /** `network` (the scanner) or `agent` (a filesystem report). */
  @Column('text') source: string;
  @Column('text', { default: 'Pending' }) status: DiscoveryScanStatus;
  @Column('text', { array: true, default: () => "'{}'" }) directories: string[];
  @Column('integer', { array: true, default: () => "'{}'" }) ports: number[];
  @Column('text', { array: true, default: () => "'{}'" }) sni_hostnames: string[];
  @Column('integer', { default: 5000 }) timeout_ms: number;
  @Column('integer', { default: 0 }) rate_limit_per_second: number;
  @Column('integer', { default: 0 }) addresses_total: number;
  @Column('integer', { default: 0 }) addresses_done: number;
  @Column('integer', { default: 0 }) shards_total: number;
  @Column('integer', { default: 0 }) shards_done: number;
  @Column('jsonb', { default: {} }) shard_progress: Record<string, ShardProgress>;
  @Column('integer', { default: 0 }) certificates_found: number;
  @Column('integer', { default: 0 }) certificates_new: number;
  @Column('integer', { default: 0 }) errors_count: number;
  /** Errors by kind: timeout, refused, reset, tls, … */
  @Column('jsonb', { default: {} }) error_summary: Record<string, number>;
  @Column('text', { nullable: true }) last_error: string | null;
  @Column('integer', { nullable: true }) scan_duration_ms: number | null;
  @Column('timestamptz', { nullable: true }) started_at: Date | null;
  @Column('timestamptz', { nullable: true }) completed_at: Date | null;
  @Column('timestamptz', { nullable: true }) cancelled_at: Date | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}
