import { EntityManager, In } from 'typeorm';
import type { JobsOptions } from 'bullmq';
import type { AppConfig } from '@certctl/config';
import { CertificateProfileEntity, CertificateVersionEntity, JobEntity, ManagedCertificateEntity, RenewalPolicyEntity } from './entities';
import { newId } from './ids';

/** A lifecycle rule refused the request; `code` is the API's error code (all are 409 conflicts). */
export class LifecycleError extends Error {
  constructor(readonly code: 'CERTIFICATE_NOT_RENEWABLE' | 'RENEWAL_IN_PROGRESS', message: string) {
    super(message);
    this.name = 'LifecycleError';
  }
}

export const OPEN_JOB_STATUSES = ['Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running'] as const;

export interface OpenedRenewal {
  job: JobEntity;
  /** Open issuance jobs that a forced renewal cancelled. */
  cancelled: string[];
}

/**
 * Opens the Issuance (first time) or Renewal job of a certificate, for the renew endpoint and the renewal sweep
 * alike, inside the caller's transaction:
 *  - archived or revoked certificates cannot be renewed;
 *  - one open issuance job per certificate, unless `force` cancels the open one;
 *  - a profile with `requires_approval` holds the job in AwaitingApproval, whoever asked (the sweep too);
 *  - attempts are bounded by the renewal policy (`max_retries` + 1).
 * The caller enqueues the job after commit when it is Pending.
 */
export async function openRenewalJob(
  tx: EntityManager,
  certificateId: string,
  options: { requestedBy: string; force?: boolean },
): Promise<OpenedRenewal> {
  const cert = await tx.findOne(ManagedCertificateEntity, { where: { id: certificateId }, lock: { mode: 'pessimistic_write' } });
  if (!cert) throw new Error(`certificate ${certificateId} not found`);
  if (cert.status === 'Archived' || cert.status === 'Revoked') {
    throw new LifecycleError('CERTIFICATE_NOT_RENEWABLE', `certificate ${certificateId} is ${cert.status} and cannot be renewed`);
  }
  const open = await tx.find(JobEntity, {
    where: { certificate_id: certificateId, type: In(['Issuance', 'Renewal']), status: In([...OPEN_JOB_STATUSES]) },
  });
  if (open.length && !options.force) {
    throw new LifecycleError('RENEWAL_IN_PROGRESS', `certificate ${certificateId} already has ${open[0]!.type} job ${open[0]!.id} (${open[0]!.status}); use force to replace it`);
  }
  for (const job of open) {
    await tx.update(JobEntity, { id: job.id }, { status: 'Cancelled', completed_at: new Date(), last_error: 'superseded by a forced renewal' });
  }
  const policy = await tx.findOne(RenewalPolicyEntity, { where: { id: cert.renewal_policy_id } });
  const profile = await profileOf(tx, cert, policy);
  const hasVersion = await tx.exists(CertificateVersionEntity, { where: { certificate_id: certificateId } });
  const id = newId('job');
  await tx.insert(JobEntity, {
    id,
    type: hasVersion ? 'Renewal' : 'Issuance',
    certificate_id: certificateId,
    status: profile?.requires_approval ? 'AwaitingApproval' : 'Pending',
    max_attempts: (policy?.max_retries ?? 2) + 1,
    requested_by: options.requestedBy,
  });
  await tx.update(ManagedCertificateEntity, { id: certificateId }, { status: 'RenewalInProgress' });
  return { job: await tx.findOneByOrFail(JobEntity, { id }), cancelled: open.map((j) => j.id) };
}

/** The certificate's own profile, else its renewal policy's. */
export async function profileOf(
  tx: EntityManager,
  cert: Pick<ManagedCertificateEntity, 'certificate_profile_id' | 'renewal_policy_id'>,
  policy?: RenewalPolicyEntity | null,
): Promise<CertificateProfileEntity | null> {
  const p = policy === undefined ? await tx.findOne(RenewalPolicyEntity, { where: { id: cert.renewal_policy_id } }) : policy;
  const profileId = cert.certificate_profile_id ?? p?.certificate_profile_id ?? null;
  return profileId ? tx.findOne(CertificateProfileEntity, { where: { id: profileId } }) : null;
}

/**
 * BullMQ options of a `certificate.revoke` job (telling the CA): a dozen attempts, exponential from one second
 * (about an hour in all); the orchestrator's reconciler starts a new round for revocations still untold after that.
 */
export const REVOKE_AT_CA_JOB_OPTIONS: JobsOptions = { attempts: 12, backoff: { type: 'exponential', delay: 1_000 } };

/** BullMQ options of an issuance job: its row's attempt budget, exponential backoff from the configured base. */
export function issuanceJobOptions(config: AppConfig, job: Pick<JobEntity, 'max_attempts'>): JobsOptions {
  return { attempts: job.max_attempts, backoff: { type: 'exponential', delay: config.issuance.retryBaseDelayMs } };
}
