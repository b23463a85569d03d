import type { JobsOptions } from 'bullmq';
import { EntityManager } from 'typeorm';
import { loadConfig, MAX_NOTIFICATION_ATTEMPTS } from '@certctl/config';
import {
  DEFAULT_JOB_OPTIONS, JobMap, NOTIFICATION_CHANNELS, NotificationChannel, NotificationType, Queue, queueJobId,
} from '@certctl/contracts';
import { NotificationEventEntity } from './entities';
import type { NotificationDetails } from './entities/notification-event.entity';
import { newId } from './ids';
import type { JobProducer } from './queues.module';

export type { NotificationDetails };

export interface NotificationRequest {
  type: NotificationType;
  /** The certificate the alert is about, when there is one. */
  certificate_id: string | null;
  message: string;
  /** For ExpirationWarning: the alert threshold (days before expiry) that was crossed. */
  threshold_days?: number;
}

/** Where alerts go when a certificate's renewal policy does not say (CERTCTL_NOTIFICATION_DEFAULT_*). */
export interface NotificationRouting {
  defaultChannels: readonly NotificationChannel[];
  /** Email recipient when the certificate has no owner email. */
  defaultRecipient?: string;
}

/** Severity tier of each event type when no threshold decides it. */
const EVENT_TIER: Record<NotificationType, string> = {
  ExpirationWarning: 'warning',
  RenewalSuccess: 'info',
  RenewalFailure: 'critical',
  DeploymentSuccess: 'info',
  DeploymentFailure: 'critical',
  PolicyViolation: 'warning',
  Revocation: 'critical',
  HealthCheckDegraded: 'warning',
  HealthCheckDown: 'critical',
  HealthCheckCertMismatch: 'critical',
  HealthCheckRecovered: 'info',
  BreakGlassLogin: 'critical',
};

/**
 * The severity tier of an alert. An ExpirationWarning takes its tier from the policy's alert_severity_map
 * (`{"30": "info", "7": "critical"}`): the entry of the smallest day count at or above the threshold crossed,
 * or the largest entry when the threshold lies beyond all of them. Without a map: 7 days or less is critical.
 */
export function severityTier(type: NotificationType, thresholdDays: number | undefined, severityMap: Record<string, string> = {}): string {
  if (type !== 'ExpirationWarning' || thresholdDays === undefined) return EVENT_TIER[type];
  const tiers = Object.entries(severityMap)
    .map(([days, tier]) => [Number(days), tier] as const)
    .filter(([days, tier]) => Number.isInteger(days) && typeof tier === 'string' && tier !== '')
    .sort((a, b) => a[0] - b[0]);
  if (!tiers.length) return thresholdDays <= 7 ? 'critical' : 'warning';
  return (tiers.find(([days]) => days >= thresholdDays) ?? tiers[tiers.length - 1]!)[1];
}

/**
 * The channels of a tier: the policy's alert_channels for that tier, else its "default" entry, else the
 * environment's defaults. Unknown names are dropped (the API refuses them when a policy is saved).
 */
export function channelsFor(tier: string, alertChannels: Record<string, unknown> = {}, defaults: readonly NotificationChannel[]): NotificationChannel[] {
  const named = alertChannels[tier] ?? alertChannels['default'];
  const known = (Array.isArray(named) ? named : []).filter((c): c is NotificationChannel =>
    (NOTIFICATION_CHANNELS as readonly unknown[]).includes(c));
  return [...new Set(known.length ? known : defaults)];
}

let routingFromEnvironment: NotificationRouting | undefined;

/** The environment's defaults, for callers that have no config at hand (read once, through libs/config). */
function defaultRouting(): NotificationRouting {
  if (!routingFromEnvironment) {
    const { defaultChannels, defaultRecipient } = loadConfig().notifications;
    routingFromEnvironment = { defaultChannels, defaultRecipient };
  }
  return routingFromEnvironment;
}

interface CertificateContext {
  id: string;
  name: string;
  common_name: string;
  expires_at: Date | null;
  owner_email: string | null;
  alert_channels: Record<string, unknown> | null;
  alert_severity_map: Record<string, string> | null;
}

/**
 * Inserts the `notification_events` rows (status `pending`) for one alert, one per channel, inside the
 * caller's transaction, and returns their ids. After the transaction commits, the caller passes the ids to
 * `enqueueNotifications`.
 *
 * Routing: the tier comes from the event type (and, for expiry warnings, the renewal policy's
 * alert_severity_map); the channels from the policy's alert_channels for that tier, else the defaults.
 * Email goes to the certificate owner's address (else the default recipient); the other channels go to their
 * configured endpoint. What is known about the certificate is kept in `details`, so the alert can still be
 * delivered if the certificate is deleted before it goes out.
 */
export async function recordNotifications(
  tx: EntityManager, request: NotificationRequest, routing: NotificationRouting = defaultRouting(),
): Promise<string[]> {
  let certificate: CertificateContext | undefined;
  if (request.certificate_id) {
    const rows: CertificateContext[] = await tx.query(
      `SELECT c.id, c.name, c.common_name, c.expires_at, o.email AS owner_email, p.alert_channels, p.alert_severity_map
         FROM managed_certificates c
         LEFT JOIN owners o ON o.id = c.owner_id
         LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
        WHERE c.id = $1`,
      [request.certificate_id],
    );
    certificate = rows[0];
  }
  const severity = severityTier(request.type, request.threshold_days, certificate?.alert_severity_map ?? {});
  const channels = channelsFor(severity, certificate?.alert_channels ?? {}, routing.defaultChannels);
  const details: NotificationDetails = {
    severity,
    ...(request.threshold_days !== undefined ? { threshold_days: request.threshold_days } : {}),
    ...(certificate
      ? {
          certificate_id: certificate.id,
          certificate_name: certificate.name,
          common_name: certificate.common_name,
          expires_at: certificate.expires_at ? new Date(certificate.expires_at).toISOString() : null,
        }
      : request.certificate_id ? { certificate_id: request.certificate_id } : {}),
  };
  const rows = channels.map((channel) => ({
    id: newId('notification'),
    type: request.type,
    // A certificate id that does not exist (any more) would break the foreign key; details keeps it.
    certificate_id: certificate ? certificate.id : null,
    channel,
    recipient: channel === 'Email' ? (certificate?.owner_email || routing.defaultRecipient || '') : '',
    message: request.message,
    status: 'pending' as const,
    details,
  }));
  await tx.insert(NotificationEventEntity, rows);
  return rows.map((r) => r.id);
}

/**
 * The custom backoff type of `notification.send` jobs. The notifier's worker computes its delay from its own
 * configuration (2^(n-1) x base, capped), so producers need no retry settings.
 */
export const NOTIFY_BACKOFF_TYPE = 'notify-backoff';

/**
 * Options of every `notification.send` job. `attempts` is only a ceiling: the notifier dead-letters after
 * CERTCTL_NOTIFICATION_MAX_ATTEMPTS, which is never more than this.
 */
export const NOTIFY_JOB_OPTIONS: JobsOptions = {
  ...DEFAULT_JOB_OPTIONS[Queue.Notify],
  attempts: MAX_NOTIFICATION_ATTEMPTS,
  backoff: { type: NOTIFY_BACKOFF_TYPE },
};

/** What enqueueing needs of the producer (the bench passes a bare BullMQ queue). */
export type NotifyQueues = Pick<JobProducer, 'queue'>;

function sendJob(id: string, correlationId?: string) {
  const data: JobMap['notification.send'] = { notificationId: id, correlationId };
  return { name: 'notification.send' as const, data, opts: { ...NOTIFY_JOB_OPTIONS, jobId: queueJobId('notification.send', id) } };
}

/** Enqueues `notification.send` for rows that have been committed. A row that already has a job is left alone. */
export async function enqueueNotifications(producer: NotifyQueues, ids: string[], correlationId?: string): Promise<void> {
  const BATCH = 500;
  for (let i = 0; i < ids.length; i += BATCH) {
    await producer.queue(Queue.Notify).addBulk(ids.slice(i, i + BATCH).map((id) => sendJob(id, correlationId)));
  }
}

/** BullMQ states in which a job will still run (or is running) without help. */
const LIVE_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'active']);

/**
 * Gives rows a fresh `notification.send` job. The job id is derived from the row id, so an old finished or
 * failed job of the row would make a plain add a no-op: it is removed first. A job that is running is left
 * to finish (its outcome is written to the row). With `replaceLive` (requeue) a waiting or delayed job is
 * replaced too, so the row is tried now, and its dead letter is removed. Returns the ids given a new job.
 */
export async function restartNotificationJobs(
  producer: NotifyQueues, ids: string[], options: { replaceLive: boolean; correlationId?: string },
): Promise<string[]> {
  const notify = producer.queue(Queue.Notify);
  const deadLetters = producer.queue(Queue.NotifyDeadLetter);
  const restarted: string[] = [];
  for (const id of ids) {
    const jobId = queueJobId('notification.send', id);
    const state = await notify.getJobState(jobId);
    if (state === 'active' || (LIVE_STATES.has(state) && !options.replaceLive)) continue;
    if (state !== 'unknown') await notify.remove(jobId);
    if (options.replaceLive) await deadLetters.remove(queueJobId('notification.dead', id));
    const job = sendJob(id, options.correlationId);
    await notify.add(job.name, job.data, job.opts);
    restarted.push(id);
  }
  return restarted;
}
