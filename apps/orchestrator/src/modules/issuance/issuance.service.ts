import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { UnrecoverableError } from 'bullmq';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, deployQueueJobs, DeployQueueJob, Queue, queueJobId } from '@certctl/contracts';
import {
  AgentWorkSignal, AuditEventEntity, channelsFor, enqueueNotifications, GroupCommit, JobEntity, JobProducer, ManagedCertificateEntity, newId, NotificationDetails,
  recordNotifications, severityTier,
} from '@certctl/db';
import {
  effectiveRateLimits, IssuedCertificate, IssuedLeafDetails, IssuerBudget, IssuerConnector, IssuerConnectors, IssuerError, ProfileConstraints,
} from '@certctl/issuers';
import {
  createCsr, describeCertificate, encryptSecret, generateKeyObjects, KeyObjectPair, keySize, KeySpec, namesMismatch, parseCsr, ParsedCsr,
  PkiError, privateKeyPemOf, x509, splitPemChain,
} from '@certctl/pki';

const SYSTEM = { actor: 'orchestrator', actor_type: 'System' as const };

/** Completing transactions of jobs that finish while one is being written go together in the next. */
const MAX_COMPLETIONS_PER_TRANSACTION = 200;

/**
 * Claim and completion statements written at once (each GroupCommit). Two: a job arriving while one batch is being
 * written need not wait for it to finish, and the next batch still gathers whatever arrives meanwhile.
 */
const BATCHES_IN_FLIGHT = 2;

/** Jobs starting while a claim is in flight are claimed together by the next statement. */
const MAX_CLAIMS_PER_STATEMENT = 500;

/** What run() tells the processor when the job must wait for the CA's budget (its queue job is delayed until then). */
export interface IssuanceOutcome {
  waitUntil: Date;
}

interface Completion {
  deployJobIds: string[];
  notificationIds: string[];
}

/** The claimed job with what issuing it needs, read in the claiming statement. */
interface ClaimedJob {
  id: string;
  type: 'Issuance' | 'Renewal';
  certificate_id: string;
  attempts: number;
  max_attempts: number;
  csr_pem: string | null;
  common_name: string;
  sans: string[];
  issuer_id: string;
  /** The issuer row's updated_at: the cached connector is reused while it is unchanged. */
  issuer_updated_at: Date | null;
  /** The issuer's type and (redacted) config: its rate limits, declared or its CA's defaults. */
  issuer_type: string | null;
  issuer_config: Record<string, unknown> | null;
  agent_makes_key: boolean;
  /** Enabled targets of the certificate, by id: each gets a Deployment job when the version is stored. */
  targets: Array<{ id: string; agent_id: string | null }>;
  /** For the RenewalSuccess notification: routed as recordNotifications (@certctl/db) routes one alert. */
  certificate_name: string;
  owner_email: string | null;
  alert_channels: Record<string, unknown> | null;
  profile_id: string | null;
  allowed_key_algorithms: ProfileConstraints['allowed_key_algorithms'] | null;
  max_ttl_seconds: number | null;
  allowed_ekus: string[] | null;
  required_san_patterns: string[] | null;
  must_staple: boolean | null;
}

/** One issued certificate on its way into certificate_versions (and everything that follows from it). */
interface IssuedVersion {
  job: ClaimedJob;
  leafPem: string;
  chainPems: string[];
  csrPem: string;
  encryptedKey: Buffer | null;
  keyAlgorithm: string;
  keySize: number;
  details: IssuedLeafDetails;
  correlationId?: string;
}

/**
 * Runs Issuance and Renewal jobs: claims the row, gets the subject's key (generated here, or an agent's CSR),
 * asks the issuer to sign it, and records the result. Each job stores at most one version (unique job_id), so a
 * job retried after a crash cannot store two; the completing writes of jobs finishing together share one
 * transaction (GroupCommit), and a job counts as done only once that transaction has committed.
 */
@Injectable()
export class IssuanceService {
  private readonly logger = new Logger(IssuanceService.name);
  private readonly completions = new GroupCommit<IssuedVersion, Completion>(
    async (batch) => {
      const completions = await this.storeVersions(batch);
      await this.enqueueFollowUps(batch, completions);
      return completions;
    },
    { maxBatch: MAX_COMPLETIONS_PER_TRANSACTION, maxInFlight: BATCHES_IN_FLIGHT },
  );
  private readonly claims = new GroupCommit<string, ClaimedJob | undefined>((ids) => this.claimBatch(ids), { maxBatch: MAX_CLAIMS_PER_STATEMENT, maxInFlight: BATCHES_IN_FLIGHT });
  private readonly connectors = new Map<string, { stamp: number; connector: Promise<IssuerConnector> }>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly issuers: IssuerConnectors,
    private readonly producer: JobProducer,
    private readonly agentWork: AgentWorkSignal,
    private readonly budget: IssuerBudget,
  ) {}

  async run(jobId: string, correlationId?: string): Promise<IssuanceOutcome | undefined> {
    const job = await this.claim(jobId);
    if (!job) return undefined;
    if (!job.csr_pem && job.agent_makes_key) {
      await this.awaitCsr(job);
      return undefined;
    }
    // Checked after the CSR wait (an agent's key costs the CA nothing) and before any key is made. Redis or
    // PostgreSQL failing here is a failed attempt like any other (retried with backoff), never a job left Running.
    let wait: IssuanceOutcome | undefined;
    try {
      wait = await this.takeBudget(job);
    } catch (err) {
      await this.handleFailure(job, err, correlationId);
    }
    if (wait) return wait;
    const profile = profileConstraintsOf(job);
    const serverKey = job.csr_pem ? undefined : await this.serverKey(profile);

    try {
      const connector = await this.connectorFor(job);
      let issued: IssuedCertificate;
      let csrPem = '';
      let keySpec: KeySpec;
      const names = { commonName: job.common_name, sans: job.sans, profile, jobId: job.id };
      if (serverKey && connector.issueForKey) {
        // The CA signs our public key as it is: no CSR to make and parse back.
        keySpec = serverKey.spec;
        issued = await connector.issueForKey({ ...names, publicKey: serverKey.keys.publicKey, keySpec });
      } else {
        // An agent's CSR is parsed and its signature checked; our own (for CAs that want one) needs neither.
        const csr = serverKey ? await this.serverCsr(job, serverKey) : await parseCsr(job.csr_pem!);
        const mismatch = namesMismatch(csr, { commonName: job.common_name, sans: job.sans });
        if (mismatch) throw new IssuerError('permanent', mismatch);
        csrPem = csr.pem;
        keySpec = csr.keySpec;
        // A renewal names the certificate it replaces (ACME ARI, RFC 9773 §5); connectors without ARI ignore it.
        const replacesCertificatePem = job.type === 'Renewal' ? await this.currentLeaf(job.certificate_id) : undefined;
        issued = await connector.issue({ ...names, csr, replacesCertificatePem });
      }
      await this.completions.add({
        job, leafPem: issued.leafPem, chainPems: issued.chainPems, csrPem, encryptedKey: serverKey?.encryptedKey ?? null,
        keyAlgorithm: keySpec.algorithm, keySize: keySize(keySpec), details: issued.details ?? describeCertificate(issued.leafPem), correlationId,
      });
    } catch (err) {
      await this.handleFailure(job, err, correlationId);
    }
    return undefined;
  }

  /**
   * Takes one slot of each of the issuer's rate limits for this attempt, or puts the job back to Pending with the
   * time a slot frees (scheduled_at) and why (wait_reason): delayed, not failed, and the attempt is not counted.
   * The budget is shared by every replica (IssuerBudget). A slot taken stays spent even if the CA then fails the
   * order: Let's Encrypt counts failed orders against new orders per account too.
   */
  private async takeBudget(job: ClaimedJob): Promise<IssuanceOutcome | undefined> {
    const limits = effectiveRateLimits(job.issuer_type ?? '', job.issuer_config);
    if (!limits.length) return undefined;
    const decision = await this.budget.take(job.issuer_id, limits, [job.common_name, ...job.sans], `${job.id}:${job.attempts}`);
    if (decision.granted) return undefined;
    const reason = `waiting for CA budget: ${decision.limit} of issuer ${job.issuer_id} frees at ${decision.freeAt.toISOString()}`;
    await this.dataSource.query(
      `UPDATE jobs SET status = 'Pending', attempts = GREATEST(attempts - 1, 0), scheduled_at = $2, wait_reason = $3, updated_at = now()
        WHERE id = $1 AND (status = 'Running') IS TRUE`,
      [job.id, decision.freeAt, reason],
    );
    this.logger.log({ jobId: job.id, issuerId: job.issuer_id, limit: decision.limit, freeAt: decision.freeAt.toISOString() }, 'issuance waits for CA budget');
    return { waitUntil: decision.freeAt };
  }

  /**
   * Takes the job for this attempt: Pending (or Running, when a previous worker died holding it) → Running,
   * counting the attempt, and reads its certificate, profile (the certificate's own, else its renewal policy's),
   * issuer version and, in agent keygen mode, whether an agent makes the key. Anything else (cancelled, awaiting a
   * CSR or an approval, finished) is left alone. Jobs starting while a claim is in flight are claimed together by
   * the next statement: one statement and one commit for all of them.
   */
  private claim(jobId: string): Promise<ClaimedJob | undefined> {
    return this.claims.add(jobId);
  }

  /** The leaf of the certificate's newest version, if it has one. */
  private async currentLeaf(certificateId: string): Promise<string | undefined> {
    const rows: Array<{ pem_chain: string }> = await this.dataSource.query(
      `SELECT pem_chain FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, [certificateId],
    );
    return rows[0] ? splitPemChain(rows[0].pem_chain)[0] : undefined;
  }

  private async claimBatch(jobIds: string[]): Promise<Array<ClaimedJob | undefined>> {
    const rows: ClaimedJob[] = await this.dataSource.query(
      // "(status IN …) IS TRUE" (status is never null) keeps the planner on the primary key: the plain condition lets it
      // pick idx_jobs_open_per_certificate, a partial index it may believe empty right after a burst of new jobs,
      // and then each claim reads every open job.
      `WITH claimed AS (
         UPDATE jobs SET status = 'Running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), wait_reason = NULL, updated_at = now()
          WHERE id = ANY($1::text[]) AND type IN ('Issuance', 'Renewal') AND (status IN ('Pending', 'Running')) IS TRUE
            AND NOT EXISTS (SELECT 1 FROM certificate_versions v WHERE v.job_id = jobs.id)
          RETURNING id, type, certificate_id, attempts, max_attempts, csr_pem
       )
       SELECT j.*, c.common_name, c.sans, c.issuer_id, i.updated_at AS issuer_updated_at, i.type AS issuer_type, i.config AS issuer_config,
              c.name AS certificate_name, o.email AS owner_email, p.alert_channels,
              COALESCE((SELECT json_agg(json_build_object('id', t.id, 'agent_id', t.agent_id) ORDER BY t.id)
                          FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
                         WHERE m.certificate_id = j.certificate_id AND t.enabled AND t.retired_at IS NULL), '[]'::json) AS targets,
              $2::boolean AND EXISTS (
                SELECT 1 FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
                 WHERE m.certificate_id = j.certificate_id AND t.agent_id IS NOT NULL AND t.enabled AND t.retired_at IS NULL
              ) AS agent_makes_key,
              pr.id AS profile_id, pr.allowed_key_algorithms, pr.max_ttl_seconds, pr.allowed_ekus, pr.required_san_patterns, pr.must_staple
         FROM claimed j
         JOIN managed_certificates c ON c.id = j.certificate_id
         LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
         LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)
         LEFT JOIN issuers i ON i.id = c.issuer_id
         LEFT JOIN owners o ON o.id = c.owner_id`,
      [jobIds, this.config.pki.keygenMode === 'agent'],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return jobIds.map((id) => byId.get(id));
  }

  /**
   * The issuer's connector. The issuer row (enabled, config, secrets) is read again only when its updated_at,
   * read with the claim, has changed since the connector was made.
   */
  private connectorFor(job: ClaimedJob): Promise<IssuerConnector> {
    const stamp = job.issuer_updated_at ? new Date(job.issuer_updated_at).getTime() : NaN;
    const cached = this.connectors.get(job.issuer_id);
    if (cached && cached.stamp === stamp) return cached.connector;
    const connector = this.issuers.forIssuer(job.issuer_id).then(({ connector }) => connector);
    this.connectors.set(job.issuer_id, { stamp, connector });
    connector.catch(() => {
      if (this.connectors.get(job.issuer_id)?.connector === connector) this.connectors.delete(job.issuer_id);
    });
    return connector;
  }

  private async awaitCsr(job: ClaimedJob): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      // The attempt budget is for the CA; waiting for an agent does not spend it.
      await tx.update(JobEntity, { id: job.id }, { status: 'AwaitingCSR', attempts: Math.max(0, job.attempts - 1) });
      await audit(tx, 'renewal_awaiting_csr', job.id, { certificate_id: job.certificate_id });
    });
    // The agents of its targets hear at once (a held work request answers) instead of at their next poll.
    await this.agentWork.notifyCertificateAgents(this.dataSource, [job.certificate_id]);
  }

  /** A key pair of the profile's first allowed algorithm; the private key is kept only encrypted. */
  private async serverKey(profile: ProfileConstraints | null): Promise<{ keys: KeyObjectPair; spec: KeySpec; encryptedKey: Buffer }> {
    const secret = this.config.pki.encryptionKey;
    if (!secret) throw new UnrecoverableError('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: server keygen cannot keep the private key');
    const spec = keySpecFor(profile);
    const keys = await generateKeyObjects(spec);
    return { keys, spec, encryptedKey: encryptSecret(privateKeyPemOf(keys.privateKey), secret) };
  }

  /** The CSR of a server-generated key, for issuers that take nothing else (ACME). */
  private async serverCsr(job: ClaimedJob, key: { keys: KeyObjectPair; spec: KeySpec }): Promise<ParsedCsr> {
    const pem = await createCsr({ keys: key.keys, keySpec: key.spec, commonName: job.common_name, sans: job.sans });
    const publicKey = new x509.PublicKey(key.keys.publicKey.export({ type: 'spki', format: 'der' }));
    return { pem, commonName: job.common_name, sans: job.sans, keySpec: key.spec, publicKey };
  }

  /**
   * Stores a batch of issued versions and everything that follows from them, in one statement (so one transaction
   * and one round trip): the versions (a job whose version already exists, e.g. after a crash and retry, stores
   * nothing, and nothing follows for it), jobs Completed, certificates Active, one Deployment job per enabled
   * target, the RenewalSuccess notification rows and the audit rows. Results are in the order of the batch.
   */
  private async storeVersions(batch: IssuedVersion[]): Promise<Completion[]> {
    const versionIds = batch.map(() => newId('version'));
    const deployments = batch.flatMap((v, i) => v.job.targets.map((t) => ({ id: newId('job'), versionId: versionIds[i]!, certificateId: v.job.certificate_id, target: t })));
    const notifications = batch.flatMap((v, i) => this.successNotifications(v).map((n) => ({ ...n, versionId: versionIds[i]! })));
    const audits = batch.map((v, i) => ({
      id: newId('audit'), versionId: versionIds[i]!, jobId: v.job.id,
      details: JSON.stringify({
        certificate_id: v.job.certificate_id, version_id: versionIds[i], serial_number: v.details.serialNumber, not_after: v.details.notAfter.toISOString(),
        deployment_jobs: v.job.targets.filter((t) => !t.agent_id).length,
      }),
    }));
    const stored: Array<{ id: string }> = await this.dataSource.query(
      `WITH v AS (
         INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain,
             csr_pem, key_algorithm, key_size, encrypted_private_key, job_id, crl_shard)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[],
             $8::text[], $9::text[], $10::int[], $11::bytea[], $12::text[], $30::smallint[])
         ON CONFLICT (job_id) WHERE job_id IS NOT NULL DO NOTHING
         RETURNING id, job_id, certificate_id, not_after
       ), completed_jobs AS (
         UPDATE jobs SET status = 'Completed', completed_at = now(), last_error = NULL, updated_at = now()
           FROM v WHERE jobs.id = v.job_id RETURNING jobs.id
       ), active_certificates AS (
         UPDATE managed_certificates c SET status = 'Active', expires_at = v.not_after, last_renewal_at = now(), updated_at = now()
           FROM v WHERE c.id = v.certificate_id RETURNING c.id
       ), deployment_jobs AS (
         INSERT INTO jobs (id, type, certificate_id, target_id, agent_id, status, requested_by)
         SELECT d.id, 'Deployment', d.certificate_id, d.target_id, d.agent_id, 'Pending', 'system'
           FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::text[]) AS d(id, version_id, certificate_id, target_id, agent_id)
           JOIN v ON v.id = d.version_id
         RETURNING jobs.id
       ), notification_rows AS (
         INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, status, details)
         SELECT n.id, 'RenewalSuccess', v.certificate_id, n.channel, n.recipient, n.message, 'pending', n.details::jsonb
           FROM unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[]) AS n(id, version_id, channel, recipient, message, details)
           JOIN v ON v.id = n.version_id
         RETURNING notification_events.id
       ), audit_rows AS (
         INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
         SELECT a.id, $24, $25, 'renewal_job_completed', 'job', a.job_id, 'cert_lifecycle', a.details::jsonb
           FROM unnest($26::text[], $27::text[], $28::text[], $29::text[]) AS a(id, version_id, job_id, details)
           JOIN v ON v.id = a.version_id
         RETURNING audit_events.id
       )
       SELECT id FROM v`,
      [
        versionIds, batch.map((v) => v.job.certificate_id), batch.map((v) => v.details.serialNumber), batch.map((v) => v.details.notBefore),
        batch.map((v) => v.details.notAfter), batch.map((v) => v.details.fingerprintSha256), batch.map((v) => [v.leafPem, ...v.chainPems].join('')),
        batch.map((v) => v.csrPem), batch.map((v) => v.keyAlgorithm), batch.map((v) => v.keySize), batch.map((v) => v.encryptedKey),
        batch.map((v) => v.job.id),
        deployments.map((d) => d.id), deployments.map((d) => d.versionId), deployments.map((d) => d.certificateId),
        deployments.map((d) => d.target.id), deployments.map((d) => d.target.agent_id),
        notifications.map((n) => n.id), notifications.map((n) => n.versionId), notifications.map((n) => n.channel),
        notifications.map((n) => n.recipient), notifications.map((n) => n.message), notifications.map((n) => n.details),
        SYSTEM.actor, SYSTEM.actor_type, audits.map((a) => a.id), audits.map((a) => a.versionId), audits.map((a) => a.jobId), audits.map((a) => a.details),
        batch.map((v) => v.details.crlShard ?? null),
      ],
    );
    const storedIds = new Set(stored.map((r) => r.id));
    // Agent targets' Deployment jobs wait for their agent's /work: tell the agents now (their long-polls answer).
    await this.agentWork.notify(deployments.filter((d) => storedIds.has(d.versionId)).map((d) => d.target.agent_id));
    return batch.map((v, i) => {
      const versionId = versionIds[i]!;
      if (!storedIds.has(versionId)) return { deployJobIds: [], notificationIds: [] };
      return {
        // Agent targets wait as Pending for their agent's /work poll; the others are queued for the orchestrator.
        deployJobIds: deployments.filter((d) => d.versionId === versionId && !d.target.agent_id).map((d) => d.id),
        notificationIds: notifications.filter((n) => n.versionId === versionId).map((n) => n.id),
      };
    });
  }

  /** The RenewalSuccess rows of one issued version: tier from the event type, channels from the renewal policy's alert_channels else the defaults, email to the owner. */
  private successNotifications(v: IssuedVersion): Array<{ id: string; channel: string; recipient: string; message: string; details: string }> {
    const severity = severityTier('RenewalSuccess', undefined);
    const { defaultChannels, defaultRecipient } = this.config.notifications;
    const message = `${v.job.common_name}: ${v.job.type === 'Issuance' ? 'issued' : 'renewed'}, serial ${v.details.serialNumber}, valid until ${v.details.notAfter.toISOString()}`;
    const details: NotificationDetails = {
      severity, certificate_id: v.job.certificate_id, certificate_name: v.job.certificate_name, common_name: v.job.common_name,
      expires_at: v.details.notAfter.toISOString(),
    };
    return channelsFor(severity, v.job.alert_channels ?? {}, defaultChannels).map((channel) => ({
      id: newId('notification'), channel, message, details: JSON.stringify(details),
      recipient: channel === 'Email' ? (v.job.owner_email || defaultRecipient || '') : '',
    }));
  }

  /**
   * After a batch committed: its deployment jobs (agentless targets) and notifications go to their queues in bulk.
   * A failure here is logged, not the jobs': their rows are committed and the reconcilers queue rows left without
   * a live queue job.
   */
  private async enqueueFollowUps(batch: IssuedVersion[], completions: Completion[]): Promise<void> {
    // One queue job per certificate's fan-out (a batch job for several targets), as POST /certificates/{id}/deploy does.
    const deploys: DeployQueueJob[] = [];
    const notificationsByCorrelation = new Map<string | undefined, string[]>();
    batch.forEach((v, i) => {
      const { deployJobIds, notificationIds } = completions[i]!;
      deploys.push(...deployQueueJobs(deployJobIds, v.correlationId));
      if (notificationIds.length) notificationsByCorrelation.set(v.correlationId, [...(notificationsByCorrelation.get(v.correlationId) ?? []), ...notificationIds]);
    });
    try {
      if (deploys.length) {
        await this.producer.queue(Queue.Deploy).addBulk(deploys.map(({ name, data, rowId }) => ({
          name, data, opts: { ...DEFAULT_JOB_OPTIONS[Queue.Deploy], jobId: queueJobId(name, rowId) },
        })));
      }
      for (const [correlationId, ids] of notificationsByCorrelation) await enqueueNotifications(this.producer, ids, correlationId);
    } catch (err) {
      this.logger.warn({ err: errorMessage(err), deploymentJobs: deploys.length }, 'queueing follow-ups of committed issuances failed; the reconcilers will queue them');
    }
  }

  /**
   * Records the failed attempt. Permanent errors, and the last allowed attempt, fail the job for good (and
   * tell BullMQ not to retry); otherwise the row goes back to Pending and the error is rethrown so BullMQ
   * retries with backoff.
   */
  private async handleFailure(job: ClaimedJob, err: unknown, correlationId?: string): Promise<never> {
    const message = errorMessage(err);
    const permanent = (err instanceof IssuerError && err.kind === 'permanent') || err instanceof PkiError || err instanceof UnrecoverableError;
    const final = permanent || job.attempts >= job.max_attempts;
    if (!final) {
      // IS TRUE: by primary key, as in claim().
      await this.dataSource.query(
        `UPDATE jobs SET status = 'Pending', last_error = $2, updated_at = now() WHERE id = $1 AND (status = 'Running') IS TRUE`, [job.id, message],
      );
      this.logger.warn({ jobId: job.id, attempt: job.attempts, err: message }, 'issuance attempt failed; will retry');
      throw err instanceof Error ? err : new Error(message);
    }
    const notificationIds = await this.dataSource.transaction(async (tx) => {
      const updated = await tx.update(JobEntity, { id: job.id, completed_at: IsNull() }, { status: 'Failed', last_error: message, completed_at: new Date() });
      if (!updated.affected) return [];
      await tx.update(ManagedCertificateEntity, { id: job.certificate_id }, { status: 'Failed' });
      await audit(tx, 'renewal_job_failed', job.id, { certificate_id: job.certificate_id, attempts: job.attempts, error: message });
      return recordNotifications(tx, { type: 'RenewalFailure', certificate_id: job.certificate_id, message: `renewal failed after ${job.attempts} attempt(s): ${message}` });
    });
    await enqueueNotifications(this.producer, notificationIds, correlationId);
    throw new UnrecoverableError(message);
  }
}

function profileConstraintsOf(job: ClaimedJob): ProfileConstraints | null {
  if (!job.profile_id) return null;
  return {
    allowed_key_algorithms: job.allowed_key_algorithms ?? [],
    max_ttl_seconds: job.max_ttl_seconds ?? 0,
    allowed_ekus: job.allowed_ekus ?? [],
    required_san_patterns: job.required_san_patterns ?? [],
    must_staple: job.must_staple ?? false,
  };
}

function keySpecFor(profile: ProfileConstraints | null): KeySpec {
  const first = profile?.allowed_key_algorithms[0];
  if (first?.algorithm === 'RSA') {
    const bits = first.min_size <= 2048 ? 2048 : first.min_size <= 3072 ? 3072 : 4096;
    return { algorithm: 'RSA', bits };
  }
  return { algorithm: 'ECDSA', curve: (first?.min_size ?? 256) > 256 ? 'P-384' : 'P-256' };
}

function errorMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 2000);
}

async function audit(tx: EntityManager, action: string, jobId: string, details: Record<string, unknown>): Promise<void> {
  await tx.insert(AuditEventEntity, {
    id: newId('audit'), actor: SYSTEM.actor, actor_type: SYSTEM.actor_type, action, resource_type: 'job', resource_id: jobId,
    event_category: 'cert_lifecycle', details: details as never,
  });
}
