import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { UnrecoverableError } from 'bullmq';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import {
  AuditEventEntity, CertificateVersionEntity, DeploymentTargetEntity, enqueueNotifications, JobEntity, JobProducer,
  ManagedCertificateEntity, newId, profileOf, recordNotifications,
} from '@certctl/db';
import { IssuerConnectors, IssuerError, ProfileConstraints } from '@certctl/issuers';
import {
  createCsr, describeCertificate, encryptSecret, exportPrivateKeyPem, generateKeyPair, KeySpec, namesMismatch, parseCsr, ParsedCsr,
  PkiError, x509,
} from '@certctl/pki';

const SYSTEM = { actor: 'orchestrator', actor_type: 'System' as const };

interface Completion {
  deployJobIds: string[];
  notificationIds: string[];
}

/**
 * Runs Issuance and Renewal jobs: claims the row, gets a CSR (made here with a server-generated key, or
 * submitted by an agent), asks the issuer to sign it, and records the result in one transaction. Each job
 * stores at most one version (unique job_id), so a job retried after a crash cannot store two.
 */
@Injectable()
export class IssuanceService {
  private readonly logger = new Logger(IssuanceService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly issuers: IssuerConnectors,
    private readonly producer: JobProducer,
  ) {}

  async run(jobId: string, correlationId?: string): Promise<void> {
    const job = await this.claim(jobId);
    if (!job) return;
    const cert = await this.dataSource.manager.findOneByOrFail(ManagedCertificateEntity, { id: job.certificate_id });
    const profile = await profileOf(this.dataSource.manager, cert);
    const constraints: ProfileConstraints | null = profile;

    let serverCsr: { csr: ParsedCsr; encryptedKey: Buffer } | undefined;
    if (!job.csr_pem) {
      if (await this.agentMakesTheKey(cert.id)) {
        await this.awaitCsr(job);
        return;
      }
      serverCsr = await this.serverGeneratedCsr(cert, constraints);
    }

    try {
      // An agent's CSR is parsed and its signature checked; our own needs neither.
      const csr = serverCsr?.csr ?? (await parseCsr(job.csr_pem!));
      const csrPem = csr.pem;
      const encryptedKey = serverCsr?.encryptedKey ?? null;
      const mismatch = namesMismatch(csr, { commonName: cert.common_name, sans: cert.sans });
      if (mismatch) throw new IssuerError('permanent', mismatch);
      const { connector } = await this.issuers.forIssuer(cert.issuer_id);
      const issued = await connector.issue({ csr, commonName: cert.common_name, sans: cert.sans, profile: constraints, jobId: job.id });
      const completion = await this.complete(job, cert, issued.leafPem, issued.chainPems, csrPem, encryptedKey);
      await this.afterCommit(completion, correlationId);
    } catch (err) {
      await this.handleFailure(job, err, correlationId);
    }
  }

  /**
   * Takes the job for this attempt: Pending (or Running, when a previous worker died holding it) → Running,
   * counting the attempt. Anything else (cancelled, awaiting a CSR or an approval, finished) is left alone.
   */
  private async claim(jobId: string): Promise<JobEntity | undefined> {
    // TypeORM answers an UPDATE with [rows, affected].
    const [rows]: [JobEntity[], number] = await this.dataSource.query(
      `UPDATE jobs SET status = 'Running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()
        WHERE id = $1 AND type IN ('Issuance', 'Renewal') AND status IN ('Pending', 'Running')
          AND NOT EXISTS (SELECT 1 FROM certificate_versions v WHERE v.job_id = $1)
        RETURNING *`,
      [jobId],
    );
    return rows[0] ? this.dataSource.manager.create(JobEntity, rows[0]) : undefined;
  }

  /** Agent keygen: the certificate is deployed by an agent, so that agent makes the key and sends a CSR. */
  private async agentMakesTheKey(certificateId: string): Promise<boolean> {
    if (this.config.pki.keygenMode !== 'agent') return false;
    const rows: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
        WHERE m.certificate_id = $1 AND t.agent_id IS NOT NULL AND t.enabled AND t.retired_at IS NULL LIMIT 1`,
      [certificateId],
    );
    return rows.length > 0;
  }

  private async awaitCsr(job: JobEntity): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      // The attempt budget is for the CA; waiting for an agent does not spend it.
      await tx.update(JobEntity, { id: job.id }, { status: 'AwaitingCSR', attempts: Math.max(0, job.attempts - 1) });
      await audit(tx, 'renewal_awaiting_csr', job.id, { certificate_id: job.certificate_id });
    });
  }

  /** A key pair of the profile's first allowed algorithm; the private key is kept only encrypted. */
  private async serverGeneratedCsr(cert: ManagedCertificateEntity, profile: ProfileConstraints | null) {
    const secret = this.config.pki.encryptionKey;
    if (!secret) throw new UnrecoverableError('CERTCTL_CONFIG_ENCRYPTION_KEY is not set: server keygen cannot keep the private key');
    const spec = keySpecFor(profile);
    const keys = await generateKeyPair(spec);
    const pem = await createCsr({ keys, keySpec: spec, commonName: cert.common_name, sans: cert.sans });
    const encryptedKey = encryptSecret(await exportPrivateKeyPem(keys.privateKey), secret);
    const publicKey = new x509.PublicKey(await crypto.subtle.exportKey('spki', keys.publicKey));
    const csr: ParsedCsr = { pem, commonName: cert.common_name, sans: cert.sans, keySpec: spec, publicKey };
    return { csr, encryptedKey };
  }

  /** Stores the version and everything that follows from it, in one transaction. */
  private async complete(
    job: JobEntity, cert: ManagedCertificateEntity, leafPem: string, chainPems: string[], csrPem: string, encryptedKey: Buffer | null,
  ): Promise<Completion> {
    const info = describeCertificate(leafPem);
    return this.dataSource.transaction(async (tx) => {
      const versionId = newId('version');
      const inserted: unknown[] = await tx.query(
        `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain,
            csr_pem, key_algorithm, key_size, encrypted_private_key, job_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (job_id) WHERE job_id IS NOT NULL DO NOTHING RETURNING id`,
        [versionId, cert.id, info.serialNumber, info.notBefore, info.notAfter, info.fingerprintSha256, [leafPem, ...chainPems].join(''),
          csrPem, info.keyAlgorithm, info.keySize, encryptedKey, job.id],
      );
      if (!inserted.length) return { deployJobIds: [], notificationIds: [] };
      const now = new Date();
      await tx.update(JobEntity, { id: job.id }, { status: 'Completed', completed_at: now, last_error: null });
      await tx.update(ManagedCertificateEntity, { id: cert.id }, { status: 'Active', expires_at: info.notAfter, last_renewal_at: now });
      const deployJobIds = await this.createDeploymentJobs(tx, cert.id);
      const notificationIds = await recordNotifications(tx, {
        type: 'RenewalSuccess', certificate_id: cert.id,
        message: `${cert.common_name}: ${job.type === 'Issuance' ? 'issued' : 'renewed'}, serial ${info.serialNumber}, valid until ${info.notAfter.toISOString()}`,
      });
      await audit(tx, 'renewal_job_completed', job.id, {
        certificate_id: cert.id, version_id: versionId, serial_number: info.serialNumber, not_after: info.notAfter.toISOString(), deployment_jobs: deployJobIds.length,
      });
      return { deployJobIds, notificationIds };
    });
  }

  /**
   * One Deployment job per enabled target of the certificate. Agent targets wait as Pending for their agent's
   * /work poll; the others are returned so they can be queued for the orchestrator after commit.
   */
  private async createDeploymentJobs(tx: EntityManager, certificateId: string): Promise<string[]> {
    const targets: DeploymentTargetEntity[] = await tx.query(
      `SELECT t.* FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
        WHERE m.certificate_id = $1 AND t.enabled AND t.retired_at IS NULL ORDER BY t.id`,
      [certificateId],
    );
    const queued: string[] = [];
    for (const target of targets) {
      const id = newId('job');
      await tx.insert(JobEntity, { id, type: 'Deployment', certificate_id: certificateId, target_id: target.id, agent_id: target.agent_id, status: 'Pending', requested_by: 'system' });
      if (!target.agent_id) queued.push(id);
    }
    return queued;
  }

  private async afterCommit(completion: Completion, correlationId?: string): Promise<void> {
    for (const id of completion.deployJobIds) await this.producer.enqueue('certificate.deploy', { jobId: id, correlationId }, id);
    await enqueueNotifications(this.producer, completion.notificationIds, correlationId);
  }

  /**
   * Records the failed attempt. Permanent errors, and the last allowed attempt, fail the job for good (and
   * tell BullMQ not to retry); otherwise the row goes back to Pending and the error is rethrown so BullMQ
   * retries with backoff.
   */
  private async handleFailure(job: JobEntity, err: unknown, correlationId?: string): Promise<never> {
    const message = errorMessage(err);
    const permanent = (err instanceof IssuerError && err.kind === 'permanent') || err instanceof PkiError || err instanceof UnrecoverableError;
    const final = permanent || job.attempts >= job.max_attempts;
    if (!final) {
      await this.dataSource.manager.update(JobEntity, { id: job.id, status: 'Running' }, { status: 'Pending', last_error: message });
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
