import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { HealthStatus } from '@certctl/contracts';

/** A TLS endpoint probed every `check_interval_seconds` by the scanner (certctl §10.6, plus SNI and target). */
@Entity('endpoint_health_checks')
export class EndpointHealthCheckEntity {
  @PrimaryColumn('text') id: string;
  /** host:port */
  @Column('text') endpoint: string;
  /** SNI sent in the handshake; '' = the host when it is a name, none for an address. */
  @Column('text', { default: '' }) server_name: string;
  @Column('text', { nullable: true }) certificate_id: string | null;
  /** The deployment target whose verified deployments this check follows. */
  @Column('text', { nullable: true }) target_id: string | null;
  @Column('text', { nullable: true }) network_scan_target_id: string | null;
  /** SHA-256 of the leaf that should be served, lowercase hex; '' = any certificate is fine. */
  @Column('text', { default: '' }) expected_fingerprint: string;
  @Column('text', { default: '' }) observed_fingerprint: string;
  @Column('text', { default: 'unknown' }) status: HealthStatus;
  @Column('integer', { default: 0 }) consecutive_failures: number;
  @Column('integer', { default: 0 }) response_time_ms: number;
  @Column('text', { default: '' }) tls_version: string;
  @Column('text', { default: '' }) cipher_suite: string;
  @Column('text', { default: '' }) cert_subject: string;
  @Column('text', { default: '' }) cert_issuer: string;
  @Column('timestamptz', { nullable: true }) cert_expiry: Date | null;
  @Column('timestamptz', { nullable: true }) last_checked_at: Date | null;
  @Column('timestamptz', { nullable: true }) last_success_at: Date | null;
  @Column('timestamptz', { nullable: true }) last_failure_at: Date | null;
  @Column('timestamptz', { nullable: true }) last_transition_at: Date | null;
  @Column('text', { default: '' }) failure_reason: string;
  @Column('integer', { default: 2 }) degraded_threshold: number;
  @Column('integer', { default: 5 }) down_threshold: number;
  @Column('integer', { default: 300 }) check_interval_seconds: number;
  @Column('integer', { default: 5000 }) timeout_ms: number;
  @Column('boolean', { default: true }) enabled: boolean;
  @Column('boolean', { default: false }) acknowledged: boolean;
  @Column('text', { nullable: true }) acknowledged_by: string | null;
  @Column('timestamptz', { nullable: true }) acknowledged_at: Date | null;
  /** Created by a verified deployment rather than by hand. */
  @Column('boolean', { default: false }) auto_created: boolean;
  /** When a scanner tick next claims the check. */
  @Column('timestamptz', { default: () => 'now()' }) next_check_at: Date;
  /** The claim a probe job has started (internal: a job handed out twice does not probe twice). */
  @Column('timestamptz', { nullable: true, select: false }) probing_for: Date | null;
  @CreateDateColumn({ type: 'timestamptz' }) created_at: Date;
  @UpdateDateColumn({ type: 'timestamptz' }) updated_at: Date;
}

/** One probe of a check; purged after CERTCTL_HEALTH_CHECK_HISTORY_RETENTION. */
@Entity('endpoint_health_history')
export class EndpointHealthHistoryEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' }) id: string;
  @Column('text') health_check_id: string;
  @Column('text') status: string;
  @Column('integer', { default: 0 }) response_time_ms: number;
  @Column('text', { default: '' }) fingerprint: string;
  @Column('text', { default: '' }) failure_reason: string;
  /** The scanner process that ran the probe. */
  @Column('text', { default: '' }) probed_by: string;
  @Column('timestamptz', { default: () => 'now()' }) checked_at: Date;
}
