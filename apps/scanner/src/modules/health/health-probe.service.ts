import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { HealthStatus, JobMap } from '@certctl/contracts';
import {
  allowedAddresses, enqueueNotifications, JobProducer, newId, parseHealthEndpoint, recordNotifications, ScanRangeError,
} from '@certctl/db';
import { Semaphore } from '../scan/scan-limits';
import { probeContext, ProbeOutcome, probeTls } from '../scan/tls-probe';
import { HealthCheckMetrics } from './health-check-metrics';
import { nextState, transitionAlert } from './health-transition';

/** What one probe of one check saw. */
interface ProbeReport {
  checkId: string;
  checkedAt: Date;
  responseTimeMs: number;
  outcome: ProbeOutcome | 'refused_by_policy' | 'unresolved';
  /** Set when a handshake completed. */
  served?: { fingerprint: string; subject: string; issuer: string; expiry: Date | null; protocol: string; cipher: string };
  failureReason: string;
}

interface CheckToProbe {
  id: string;
  endpoint: string;
  server_name: string;
  timeout_ms: number;
}

interface LockedCheck {
  id: string;
  endpoint: string;
  status: HealthStatus;
  consecutive_failures: number;
  degraded_threshold: number;
  down_threshold: number;
  expected_fingerprint: string;
  certificate_id: string | null;
}

/**
 * Runs `health-check.probe` batches: one TLS handshake per check (through the scan address policy, at most
 * CERTCTL_HEALTH_CHECK_MAX_CONCURRENT at once in this process), then one transaction writes every check's new
 * state, its history row, the audit rows of status changes and their notifications.
 */
@Injectable()
export class HealthProbeService {
  private readonly logger = new Logger(HealthProbeService.name);
  private readonly handshakes: Semaphore;
  private readonly tlsContext = probeContext();
  /** This process's name in history rows: host, pid and a random tag (replicas share a pid in tests). */
  readonly replica = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
    private readonly metrics: HealthCheckMetrics,
  ) {
    this.handshakes = new Semaphore(config.healthCheck.maxConcurrent);
  }

  async probeBatch(data: JobMap['health-check.probe']): Promise<{ probed: number; transitions: number }> {
    // Takes this interval's claim of each check once: a job run again (BullMQ re-queues a stalled one) finds them taken.
    const [checks]: [CheckToProbe[], number] = await this.dataSource.query(
      `UPDATE endpoint_health_checks SET probing_for = next_check_at
        WHERE id = ANY($1) AND enabled AND probing_for IS DISTINCT FROM next_check_at
        RETURNING id, endpoint, server_name, timeout_ms`, [data.checkIds]);
    const reports = await Promise.all(checks.map((check) => this.probe(check)));
    if (!reports.length) return { probed: 0, transitions: 0 };
    const { notificationIds, transitions } = await this.dataSource.transaction((tx) => this.record(tx, reports));
    // After the commit, as every producer of notification rows does (a lost enqueue is re-queued by the notifier's reconciler).
    if (notificationIds.length) await enqueueNotifications(this.producer, notificationIds, data.correlationId);
    return { probed: reports.length, transitions };
  }

  private async probe(check: CheckToProbe): Promise<ProbeReport> {
    const checkedAt = new Date();
    const started = performance.now();
    const report = (outcome: ProbeReport['outcome'], failureReason: string, served?: ProbeReport['served']): ProbeReport => {
      const responseTimeMs = Math.round(performance.now() - started);
      this.metrics.probeDuration.observe({ outcome }, responseTimeMs / 1000);
      this.metrics.probes.inc({ outcome });
      return { checkId: check.id, checkedAt, responseTimeMs, outcome, served, failureReason };
    };
    let host: string;
    let port: number;
    let addresses: string[];
    try {
      ({ host, port } = parseHealthEndpoint(check.endpoint));
      // Checked again here, with the scanner's own policy, before any packet is sent.
      addresses = await allowedAddresses({ host, port }, this.config.networkScan);
    } catch (err) {
      if (err instanceof ScanRangeError) return report('refused_by_policy', `refused: ${err.message}`);
      throw err;
    }
    if (!addresses.length) return report('unresolved', `${host} does not resolve to an IPv4 address`);
    const servername = check.server_name || (isIP(host) ? undefined : host);
    await this.handshakes.acquire();
    let result;
    try {
      result = await probeTls(addresses[0]!, port, {
        servername, connectTimeoutMs: check.timeout_ms, handshakeTimeoutMs: check.timeout_ms, secureContext: this.tlsContext,
      });
    } finally {
      this.handshakes.release();
    }
    if (result.outcome !== 'certificate' || !result.chain?.[0]) {
      return report(result.outcome, `${result.outcome}${result.message ? `: ${result.message}` : ''}`.slice(0, 1000));
    }
    const leaf = result.chain[0];
    const fingerprint = createHash('sha256').update(leaf).digest('hex');
    let subject = '';
    let issuer = '';
    let expiry: Date | null = null;
    try {
      const cert = new X509Certificate(leaf);
      subject = cert.subject.split('\n').join(', ');
      issuer = cert.issuer.split('\n').join(', ');
      expiry = new Date(cert.validTo);
    } catch {
      // An unreadable leaf still has a fingerprint, which is what the check compares.
    }
    return report('certificate', '', { fingerprint, subject, issuer, expiry, protocol: result.protocol ?? '', cipher: result.cipher ?? '' });
  }

  /** New states, history, audit and alerts of one batch, with the checks locked (an API edit waits for it). */
  private async record(tx: EntityManager, reports: ProbeReport[]): Promise<{ notificationIds: string[]; transitions: number }> {
    const ids = reports.map((r) => r.checkId);
    const locked: LockedCheck[] = await tx.query(
      `SELECT id, endpoint, status, consecutive_failures, degraded_threshold, down_threshold, expected_fingerprint, certificate_id
         FROM endpoint_health_checks WHERE id = ANY($1) ORDER BY id FOR UPDATE`, [ids]);
    const byId = new Map(locked.map((c) => [c.id, c]));
    const newer = await this.newerVersionFingerprints(tx, reports, byId);
    const updates: Record<string, unknown>[] = [];
    const history: Record<string, unknown>[] = [];
    const changes: Array<{ check: LockedCheck; from: HealthStatus; to: HealthStatus; report: ProbeReport }> = [];
    for (const report of reports) {
      const check = byId.get(report.checkId);
      if (!check) continue; // deleted while it was probed
      const served = report.served;
      const expected = check.expected_fingerprint;
      // A newer version of the same certificate is a rollout in progress, not a foreign certificate.
      const matches = !served || !expected || served.fingerprint === expected || Boolean(newer.get(check.id)?.has(served.fingerprint));
      const state = nextState(check, served ? { reached: true, matches } : { reached: false });
      const reason = served && !matches ? `served ${served.fingerprint}, expected ${expected}` : report.failureReason;
      const changed = state.status !== check.status;
      if (changed) changes.push({ check, from: check.status, to: state.status, report });
      updates.push({
        id: check.id, status: state.status, failures: state.consecutive_failures, ms: report.responseTimeMs, reached: Boolean(served),
        fingerprint: served?.fingerprint ?? '', subject: served?.subject ?? '', issuer: served?.issuer ?? '',
        expiry: served?.expiry?.toISOString() ?? null, protocol: served?.protocol ?? '', cipher: served?.cipher ?? '',
        checked_at: report.checkedAt.toISOString(), reason, changed,
      });
      history.push({
        health_check_id: check.id, status: state.status, ms: report.responseTimeMs, fingerprint: served?.fingerprint ?? '',
        reason, checked_at: report.checkedAt.toISOString(),
      });
    }
    if (!updates.length) return { notificationIds: [], transitions: 0 };
    await tx.query(
      `UPDATE endpoint_health_checks c SET
          status = v.status, consecutive_failures = v.failures, response_time_ms = v.ms, failure_reason = v.reason,
          observed_fingerprint = CASE WHEN v.reached THEN v.fingerprint ELSE c.observed_fingerprint END,
          cert_subject = CASE WHEN v.reached THEN v.subject ELSE c.cert_subject END,
          cert_issuer = CASE WHEN v.reached THEN v.issuer ELSE c.cert_issuer END,
          cert_expiry = CASE WHEN v.reached THEN v.expiry ELSE c.cert_expiry END,
          tls_version = CASE WHEN v.reached THEN v.protocol ELSE c.tls_version END,
          cipher_suite = CASE WHEN v.reached THEN v.cipher ELSE c.cipher_suite END,
          last_checked_at = v.checked_at,
          last_success_at = CASE WHEN v.reached THEN v.checked_at ELSE c.last_success_at END,
          last_failure_at = CASE WHEN v.reached THEN c.last_failure_at ELSE v.checked_at END,
          last_transition_at = CASE WHEN v.changed THEN v.checked_at ELSE c.last_transition_at END,
          -- certctl: a transition opens a new incident, so an acknowledgement does not carry over.
          acknowledged = CASE WHEN v.changed THEN false ELSE c.acknowledged END,
          acknowledged_by = CASE WHEN v.changed THEN NULL ELSE c.acknowledged_by END,
          acknowledged_at = CASE WHEN v.changed THEN NULL ELSE c.acknowledged_at END,
          updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS v(id text, status text, failures int, ms int, reached boolean, fingerprint text, subject text,
              issuer text, expiry timestamptz, protocol text, cipher text, checked_at timestamptz, reason text, changed boolean)
        WHERE c.id = v.id`,
      [JSON.stringify(updates)]);
    await tx.query(
      `INSERT INTO endpoint_health_history (health_check_id, status, response_time_ms, fingerprint, failure_reason, probed_by, checked_at)
       SELECT h.health_check_id, h.status, h.ms, h.fingerprint, h.reason, $2, h.checked_at
         FROM jsonb_to_recordset($1::jsonb) AS h(health_check_id text, status text, ms int, fingerprint text, reason text, checked_at timestamptz)`,
      [JSON.stringify(history), this.replica]);
    const notificationIds = await this.recordChanges(tx, changes);
    return { notificationIds, transitions: changes.length };
  }

  /** Status changes: one audit row each, an alert for those that warrant one, and the transitions counter. */
  private async recordChanges(
    tx: EntityManager, changes: Array<{ check: LockedCheck; from: HealthStatus; to: HealthStatus; report: ProbeReport }>,
  ): Promise<string[]> {
    if (!changes.length) return [];
    const audits = changes.map(({ check, from, to, report }) => ({
      id: newId('audit'), resource_id: check.id,
      details: { endpoint: check.endpoint, from, to, certificate_id: check.certificate_id, reason: report.failureReason || null, probed_by: this.replica },
    }));
    await tx.query(
      `INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
       SELECT a.id, 'scanner', 'System', 'health_check_status_changed', 'endpoint_health_checks', a.resource_id, 'cert_lifecycle', a.details
         FROM jsonb_to_recordset($1::jsonb) AS a(id text, resource_id text, details jsonb)`,
      [JSON.stringify(audits)]);
    const notificationIds: string[] = [];
    for (const { check, from, to, report } of changes) {
      this.metrics.transitions.inc({ from, to });
      const type = transitionAlert(from, to);
      if (!type) continue;
      const why = to === 'cert_mismatch' ? `serves ${report.served?.fingerprint ?? '?'} instead of ${check.expected_fingerprint}`
        : to === 'healthy' ? 'answers again with the expected certificate' : report.failureReason;
      notificationIds.push(...await recordNotifications(tx, {
        type, certificate_id: check.certificate_id, message: `health check ${check.id} (${check.endpoint}) is ${to}, was ${from}: ${why}`.slice(0, 2000),
      }));
    }
    this.logger.log({ transitions: changes.map((c) => `${c.check.id}:${c.from}->${c.to}`).slice(0, 20), count: changes.length }, 'health check status changes');
    return notificationIds;
  }

  /** For checks that saw another certificate than expected: the fingerprints of versions of their certificate newer than the expected one. */
  private async newerVersionFingerprints(tx: EntityManager, reports: ProbeReport[], checks: Map<string, LockedCheck>): Promise<Map<string, Set<string>>> {
    const suspects = reports.filter((r) => {
      const check = checks.get(r.checkId);
      return r.served && check?.certificate_id && check.expected_fingerprint && r.served.fingerprint !== check.expected_fingerprint;
    }).map((r) => r.checkId);
    const out = new Map<string, Set<string>>();
    if (!suspects.length) return out;
    const rows: Array<{ id: string; fingerprint: string }> = await tx.query(
      `SELECT c.id, v.fingerprint_sha256 AS fingerprint
         FROM endpoint_health_checks c
         JOIN certificate_versions e ON e.certificate_id = c.certificate_id AND e.fingerprint_sha256 = c.expected_fingerprint
         JOIN certificate_versions v ON v.certificate_id = c.certificate_id AND v.created_at > e.created_at
        WHERE c.id = ANY($1)`, [suspects]);
    for (const row of rows) {
      const set = out.get(row.id) ?? new Set<string>();
      set.add(row.fingerprint);
      out.set(row.id, set);
    }
    return out;
  }
}
