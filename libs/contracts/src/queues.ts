import type { Job, JobsOptions } from 'bullmq';

/**
 * Queue and job names are wire format shared by every app: never rename one, only add (STYLE C2).
 * Payloads carry ids only; Postgres holds the state of each unit of work (STYLE C3).
 */
export const Queue = {
  Issuance: 'issuance',
  Deploy: 'deploy',
  Notify: 'notify',
  NotifyDeadLetter: 'notify-dead-letter',
  Scan: 'scan',
  Schedule: 'schedule',
  /** Continuous TLS health checks: the due tick and the probe batches, consumed by the scanner. */
  HealthCheck: 'health-check',
  /** ACME server challenge validations (http-01, dns-01, tls-alpn-01), consumed by the orchestrator. */
  AcmeValidation: 'acme-validation',
} as const;
export type QueueName = (typeof Queue)[keyof typeof Queue];
export const ALL_QUEUES: readonly QueueName[] = Object.values(Queue);

/** Every job's payload. `correlationId` carries the request id of the HTTP call that caused the work. */
interface Traced {
  correlationId?: string;
}

export interface JobMap {
  'certificate.issue': Traced & { jobId: string };
  'certificate.renew': Traced & { jobId: string };
  'csr.sign': Traced & { jobId: string };
  /** Tells the issuing CA about a certificate's revocation (ACME revokeCert); retried until the CA has it. */
  'certificate.revoke': Traced & { certificateId: string };
  'certificate.deploy': Traced & { jobId: string };
  /** Several Deployment rows created together (one certificate's fan-out), deployed by one queue job. */
  'certificate.deploy.batch': Traced & { jobIds: string[] };
  /**
   * POST /targets/{id}/test, run where the target's deploys run (the orchestrator), never in the api: the job's
   * return value is a TargetTestOutcome, which the api waits for.
   */
  'target.test': Traced & { targetId: string };
  'notification.send': Traced & { notificationId: string };
  'notification.dead': Traced & { notificationId: string; lastError: string };
  'network-scan.run': Traced & { scanId: string };
  'network-scan.shard': Traced & { scanId: string; shardIndex: number };
  'renewal.sweep': Traced;
  'jobs.timeout': Traced;
  /** Deletes ended console sessions past their retention and consumed back-channel logout jtis past their window. */
  'sessions.cleanup': Traced;
  'agents.health': Traced;
  reconcile: Traced;
  'network-scan.due': Traced;
  'ari.check': Traced;
  /** Tick of the health-check job scheduler: claims the checks that are due and enqueues probe batches. */
  'health-check.due': Traced;
  /** Checks claimed together by one tick, probed by whichever scanner replica takes the job. */
  'health-check.probe': Traced & { checkIds: string[] };
  'crl.generate': Traced;
  /** Tick that moves mass re-issue drills on: issued, deployed, verified, old serials revoked. */
  'reissue.advance': Traced;
  /** Validates one ACME challenge the client said is ready; each attempt is recorded on the challenge. */
  'acme.validate': Traced & { challengeId: string };
}
export type JobName = keyof JobMap;

/** Which queue carries each job. `satisfies` makes a missing or misplaced job name a compile error. */
export const JOB_QUEUE = {
  'certificate.issue': Queue.Issuance,
  'certificate.renew': Queue.Issuance,
  'csr.sign': Queue.Issuance,
  'certificate.revoke': Queue.Issuance,
  'certificate.deploy': Queue.Deploy,
  'certificate.deploy.batch': Queue.Deploy,
  'target.test': Queue.Deploy,
  'notification.send': Queue.Notify,
  'notification.dead': Queue.NotifyDeadLetter,
  'network-scan.run': Queue.Scan,
  'network-scan.shard': Queue.Scan,
  'renewal.sweep': Queue.Schedule,
  'jobs.timeout': Queue.Schedule,
  'sessions.cleanup': Queue.Schedule,
  'agents.health': Queue.Schedule,
  reconcile: Queue.Schedule,
  'ari.check': Queue.Schedule,
  'crl.generate': Queue.Schedule,
  'reissue.advance': Queue.Schedule,
  // On the scan queue, not schedule: only the scanner consumes it, and a worker takes any job of its queue.
  'network-scan.due': Queue.Scan,
  'health-check.due': Queue.HealthCheck,
  'health-check.probe': Queue.HealthCheck,
  'acme.validate': Queue.AcmeValidation,
} as const satisfies Record<JobName, QueueName>;

/** Job names that travel on queue Q. */
export type JobNameOf<Q extends QueueName> = {
  [N in JobName]: (typeof JOB_QUEUE)[N] extends Q ? N : never;
}[JobName];

/** The union of typed BullMQ jobs of queue Q, so that `switch (job.name)` narrows `job.data`. */
export type AnyJob<Q extends QueueName = QueueName> = {
  [N in JobNameOf<Q>]: Job<JobMap[N], unknown, N>;
}[JobNameOf<Q>];

const DAY_SECONDS = 86_400;

/** Finished jobs are kept for a bounded time so Redis does not grow without limit (STYLE C4). */
const retention = {
  removeOnComplete: { age: DAY_SECONDS, count: 1_000 },
  removeOnFail: { age: 14 * DAY_SECONDS },
} satisfies JobsOptions;

/** Default options of each queue's jobs. The notify backoff (2^(n-1) min, cap 1 h) is applied by the notifier. */
export const DEFAULT_JOB_OPTIONS: Record<QueueName, JobsOptions> = {
  [Queue.Issuance]: { attempts: 3, backoff: { type: 'exponential', delay: 30_000 }, ...retention },
  [Queue.Deploy]: { attempts: 3, backoff: { type: 'exponential', delay: 30_000 }, ...retention },
  [Queue.Notify]: { attempts: 5, backoff: { type: 'exponential', delay: 60_000 }, ...retention },
  // Dead letters wait until someone requeues them: never removed automatically, never retried.
  [Queue.NotifyDeadLetter]: { attempts: 1, removeOnComplete: false, removeOnFail: false },
  [Queue.Scan]: { attempts: 3, backoff: { type: 'exponential', delay: 10_000 }, ...retention },
  // A missed tick is simply taken by the next one.
  [Queue.Schedule]: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  // A probe batch is not retried: its checks are due again one interval later, and a retry would probe twice.
  [Queue.HealthCheck]: { attempts: 1, removeOnComplete: { age: 3_600, count: 1_000 }, removeOnFail: { age: DAY_SECONDS, count: 1_000 } },
  // Retried on timeouts and connection failures (the processor decides); the attempts are recorded in the database.
  [Queue.AcmeValidation]: { attempts: 3, backoff: { type: 'exponential', delay: 2_000 }, ...retention },
};

/**
 * Deterministic BullMQ job id derived from the row id, so that enqueueing the same work twice is a no-op.
 * BullMQ forbids ':' in custom ids, hence the '__' separator.
 */
export function queueJobId<N extends JobName>(name: N, rowId: string): string {
  return `${name}__${rowId}`;
}

/** What a `target.test` job returns: a redacted message (never a command's output), as the api answers it. */
export interface TargetTestOutcome {
  status: 'success' | 'failed';
  message: string;
}

/** A target test is asked for by someone waiting on it: never retried, and kept only briefly. */
export const TARGET_TEST_JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: { age: 3_600, count: 1_000 },
  removeOnFail: { age: 3_600, count: 1_000 },
} satisfies JobsOptions;

/** Rows per `certificate.deploy.batch` queue job: a retry redoes at most this many claims. */
export const DEPLOY_BATCH_MAX_ROWS = 200;

/** One queue job to enqueue: its name, payload and the row id its deterministic queue job id derives from. */
export type DeployQueueJob =
  | { name: 'certificate.deploy'; data: JobMap['certificate.deploy']; rowId: string }
  | { name: 'certificate.deploy.batch'; data: JobMap['certificate.deploy.batch']; rowId: string };

/**
 * The queue jobs for Deployment rows created together: chunks of at most DEPLOY_BATCH_MAX_ROWS rows, each one
 * `certificate.deploy.batch` job whose id derives from its first row; a lone row keeps its `certificate.deploy` job.
 */
export function deployQueueJobs(rowIds: readonly string[], correlationId?: string): DeployQueueJob[] {
  const jobs: DeployQueueJob[] = [];
  for (let i = 0; i < rowIds.length; i += DEPLOY_BATCH_MAX_ROWS) {
    const chunk = rowIds.slice(i, i + DEPLOY_BATCH_MAX_ROWS);
    jobs.push(chunk.length === 1
      ? { name: 'certificate.deploy', data: { jobId: chunk[0]!, correlationId }, rowId: chunk[0]! }
      : { name: 'certificate.deploy.batch', data: { jobIds: chunk, correlationId }, rowId: chunk[0]! });
  }
  return jobs;
}
