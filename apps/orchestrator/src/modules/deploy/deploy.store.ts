import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { GroupCommit, JobEntity, newId, NotificationRequest, recordNotifications } from '@certctl/db';

/** The columns of a deployment target the worker needs (the encrypted secrets included). */
export interface TargetRow {
  id: string;
  name: string;
  type: string;
  config: Record<string, unknown>;
  encrypted_config: Buffer | null;
  enabled: boolean;
  retired_at: Date | null;
}

export interface ClaimedJob {
  job: JobEntity;
  /** Undefined when the target row is gone. */
  target: TargetRow | undefined;
  /** The certificate's newest version, null before the first issuance. */
  versionId: string | null;
  /** Digest of that version's chain and encrypted key: a cached copy of it is used only while they are unchanged. */
  versionDigest: string | null;
}

/** How one deployment job ended, as written in one transaction with its notification and audit rows. */
export interface JobOutcome {
  jobId: string;
  certificateId: string;
  /** Completed: only a Running row is finished. Failed: any row not yet finished. */
  onlyIfRunning: boolean;
  /** Sets the certificate's last_deployment_at. */
  touchesCertificate: boolean;
  row: {
    status: 'Completed' | 'Failed';
    completed_at: Date;
    last_error: string | null;
    deployment_result: Record<string, unknown>;
    /** Left as it is when absent; verifiedAt likewise when undefined. */
    verification?: { status: string; fingerprint: string | null; error: string | null; verifiedAt?: Date | null };
  };
  notification: NotificationRequest;
  audit: { action: string; details: Record<string, unknown> };
}

/** Statements of the jobs being claimed or finished at the same time go together. */
const CLAIM_BATCH = 500;
const OUTCOME_BATCH = 200;

/**
 * The deploy worker's database side, grouped across the jobs running at the same time: one statement claims
 * every job that arrived meanwhile (and reads its target and the certificate's newest version id); one
 * transaction records every outcome that arrived meanwhile (job rows, notification rows, the certificates'
 * last_deployment_at, audit rows, sealed into the chain at its commit). A batch that fails is written again job by
 * job, so a bad row fails only its own job. Each caller resumes only after its own rows have committed.
 */
@Injectable()
export class DeployStore {
  private readonly claims = new GroupCommit<string, ClaimedJob | undefined>((ids) => this.claimMany(ids), { maxBatch: CLAIM_BATCH, maxInFlight: 2 });
  private readonly outcomes = new GroupCommit<JobOutcome, string[]>((outcomes) => this.recordMany(outcomes), { maxBatch: OUTCOME_BATCH, maxInFlight: 2 });

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Pending (or Running, when a previous worker died holding it) → Running, counting the attempt. Agent jobs are never taken. */
  claim(jobId: string): Promise<ClaimedJob | undefined> {
    return this.claims.add(jobId);
  }

  /** Records the outcome; resolves with the notification ids once committed (none when the row was already finished). */
  record(outcome: JobOutcome): Promise<string[]> {
    return this.outcomes.add(outcome);
  }

  /** A failed attempt that will be retried: the row goes back to Pending with its error. */
  async backToPending(jobId: string, message: string): Promise<void> {
    await this.dataSource.query(`UPDATE jobs SET status = 'Pending', last_error = $2, updated_at = now() WHERE id = $1 AND status = 'Running'`, [jobId, message]);
  }

  private async claimMany(ids: string[]): Promise<Array<ClaimedJob | undefined>> {
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `WITH claimed AS (
         UPDATE jobs SET status = 'Running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()
          WHERE id = ANY($1::text[]) AND type = 'Deployment' AND agent_id IS NULL AND status IN ('Pending', 'Running')
          RETURNING *)
       SELECT c.*, t.id AS t_id, t.name AS t_name, t.type AS t_type, t.config AS t_config, t.encrypted_config AS t_encrypted_config,
              t.enabled AS t_enabled, t.retired_at AS t_retired_at, v.id AS version_id, v.digest AS version_digest
         FROM claimed c
         LEFT JOIN deployment_targets t ON t.id = c.target_id
         LEFT JOIN LATERAL (
           SELECT id, md5(pem_chain) || md5(COALESCE(encrypted_private_key, ''::bytea)) AS digest FROM certificate_versions
            WHERE certificate_id = c.certificate_id ORDER BY created_at DESC, id DESC LIMIT 1) v ON true`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    return ids.map((id) => {
      const r = byId.get(id);
      if (!r) return undefined;
      const target: TargetRow | undefined = r.t_id
        ? {
            id: r.t_id as string, name: r.t_name as string, type: r.t_type as string, config: r.t_config as Record<string, unknown>,
            encrypted_config: r.t_encrypted_config as Buffer | null, enabled: r.t_enabled as boolean, retired_at: r.t_retired_at as Date | null,
          }
        : undefined;
      return {
        job: this.dataSource.manager.create(JobEntity, r as Partial<JobEntity>), target, versionId: (r.version_id as string | null) ?? null,
        versionDigest: (r.version_digest as string | null) ?? null,
      };
    });
  }

  private recordMany(outcomes: JobOutcome[]): Promise<string[][]> {
    return this.dataSource.transaction(async (tx) => {
      const finished = await finishJobs(tx, outcomes);
      const written = outcomes.filter((o) => finished.has(o.jobId));
      const idsOf = await recordAlerts(tx, written);
      const notificationIds = outcomes.map((o) => idsOf.get(o) ?? []);
      // Row locks shared by every deployment (the certificate, the audit chain head) are taken last, so they are held briefly.
      await touchCertificates(tx, written.filter((o) => o.touchesCertificate));
      if (written.length) await insertAudit(tx, written);
      return notificationIds;
    });
  }
}

/** One UPDATE for every job row; returns the ids actually finished (a row already finished elsewhere is left alone). */
async function finishJobs(tx: EntityManager, outcomes: JobOutcome[]): Promise<Set<string>> {
  const values = outcomes.map((o) => ({
    id: o.jobId, status: o.row.status, completed_at: o.row.completed_at.toISOString(), last_error: o.row.last_error,
    deployment_result: o.row.deployment_result, only_if_running: o.onlyIfRunning,
    set_verification: Boolean(o.row.verification), verification_status: o.row.verification?.status ?? null,
    verification_fingerprint: o.row.verification?.fingerprint ?? null, verification_error: o.row.verification?.error ?? null,
    set_verified_at: o.row.verification?.verifiedAt !== undefined, verified_at: o.row.verification?.verifiedAt?.toISOString() ?? null,
  }));
  const rows: Array<{ id: string }> = await tx.query(
    `UPDATE jobs j SET status = v.status, completed_at = v.completed_at, last_error = v.last_error, deployment_result = v.deployment_result,
            verification_status = CASE WHEN v.set_verification THEN v.verification_status ELSE j.verification_status END,
            verification_fingerprint = CASE WHEN v.set_verification THEN v.verification_fingerprint ELSE j.verification_fingerprint END,
            verification_error = CASE WHEN v.set_verification THEN v.verification_error ELSE j.verification_error END,
            verified_at = CASE WHEN v.set_verified_at THEN v.verified_at ELSE j.verified_at END,
            updated_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS v(id text, status text, completed_at timestamptz, last_error text, deployment_result jsonb,
            only_if_running boolean, set_verification boolean, verification_status text, verification_fingerprint text, verification_error text,
            set_verified_at boolean, verified_at timestamptz)
      WHERE j.id = v.id AND CASE WHEN v.only_if_running THEN j.status = 'Running' ELSE j.completed_at IS NULL END
      RETURNING j.id`,
    [JSON.stringify(values)],
  );
  // tx.query of an UPDATE answers [rows, count].
  return new Set((Array.isArray(rows[0]) ? (rows[0] as Array<{ id: string }>) : rows).map((r) => r.id));
}

/**
 * The DeploymentSuccess/Failure rows of a batch. recordNotifications routes the first alert of each certificate
 * and type (severity, channels, recipients, details); the others differ only in their message, so they are copied
 * from those rows in one statement rather than routed again one by one.
 */
async function recordAlerts(tx: EntityManager, outcomes: JobOutcome[]): Promise<Map<JobOutcome, string[]>> {
  const idsOf = new Map<JobOutcome, string[]>();
  const templates = new Map<string, string[]>();
  const copies: Array<{ id: string; template_id: string; message: string }> = [];
  for (const o of outcomes) {
    const key = `${o.notification.type}\0${o.notification.certificate_id ?? ''}`;
    const template = templates.get(key);
    if (!template) {
      const ids = await recordNotifications(tx, o.notification);
      templates.set(key, ids);
      idsOf.set(o, ids);
      continue;
    }
    idsOf.set(o, template.map((templateId) => {
      const id = newId('notification');
      copies.push({ id, template_id: templateId, message: o.notification.message });
      return id;
    }));
  }
  if (copies.length) {
    await tx.query(
      `INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, status, details)
       SELECT c.id, t.type, t.certificate_id, t.channel, t.recipient, c.message, t.status, t.details
         FROM jsonb_to_recordset($1::jsonb) AS c(id text, template_id text, message text)
         JOIN notification_events t ON t.id = c.template_id`,
      [JSON.stringify(copies)],
    );
  }
  return idsOf;
}

/** last_deployment_at of each certificate deployed in the batch, in id order (one lock order for every batch). */
async function touchCertificates(tx: EntityManager, outcomes: JobOutcome[]): Promise<void> {
  const latest = new Map<string, Date>();
  for (const o of outcomes) {
    const at = latest.get(o.certificateId);
    if (!at || at < o.row.completed_at) latest.set(o.certificateId, o.row.completed_at);
  }
  if (!latest.size) return;
  const values = [...latest].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, at]) => ({ id, at: at.toISOString() }));
  await tx.query(
    `UPDATE managed_certificates m SET last_deployment_at = v.at, updated_at = now()
       FROM jsonb_to_recordset($1::jsonb) AS v(id text, at timestamptz) WHERE m.id = v.id`,
    [JSON.stringify(values)],
  );
}

/** The audit rows of a batch in one statement (built here rather than by the query builder: it is on every job's path). */
async function insertAudit(tx: EntityManager, outcomes: JobOutcome[]): Promise<void> {
  const rows = outcomes.map((o) => ({ id: newId('audit'), action: o.audit.action, resource_id: o.jobId, details: o.audit.details }));
  await tx.query(
    `INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
     SELECT a.id, 'orchestrator', 'System', a.action, 'job', a.resource_id, 'cert_lifecycle', a.details
       FROM jsonb_to_recordset($1::jsonb) AS a(id text, action text, resource_id text, details jsonb)`,
    [JSON.stringify(rows)],
  );
}
