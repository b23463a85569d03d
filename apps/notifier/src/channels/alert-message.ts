import type { NotificationDetails } from '@certctl/db';

/** What a channel needs to say about one notification, whatever the channel. */
export interface AlertMessage {
  notificationId: string;
  type: string;
  /** Severity tier: 'critical', 'warning', 'info' or a policy's own tier name. */
  severity: string;
  /** One line: what happened to which certificate. */
  title: string;
  /** The producer's message. */
  text: string;
  /** Email address for Email; for other channels an optional endpoint override ('' = the configured one). */
  recipient: string;
  createdAt: string;
  certificate: {
    id: string;
    name: string;
    commonName: string;
    expiresAt: string | null;
    /** Whole days until expiry (negative once expired), when the expiry is known. */
    daysLeft: number | null;
    url: string;
    /** True when the certificate was deleted after the alert was raised; the rest is what was known then. */
    deleted: boolean;
  } | null;
  /** Set for digest rows: the rendered digest (Email only). */
  digest?: { subject: string; html: string; text: string };
}

/** A notification row with what is known of its certificate now (null columns when it is gone). */
export interface NotificationWithCertificate {
  id: string;
  type: string;
  certificate_id: string | null;
  recipient: string;
  message: string;
  created_at: Date;
  details: NotificationDetails;
  live_name: string | null;
  live_common_name: string | null;
  live_expires_at: Date | null;
}

const DAY_MS = 86_400_000;

function describeExpiry(daysLeft: number | null): string {
  if (daysLeft === null) return '';
  if (daysLeft < 0) return `expired ${-daysLeft} day${daysLeft === -1 ? '' : 's'} ago`;
  if (daysLeft === 0) return 'expires today';
  return `expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`;
}

function titleOf(type: string, name: string, daysLeft: number | null): string {
  switch (type) {
    case 'ExpirationWarning': return `Certificate ${name} ${describeExpiry(daysLeft) || 'is about to expire'}`;
    case 'RenewalSuccess': return `Certificate ${name} renewed`;
    case 'RenewalFailure': return `Renewal failed for certificate ${name}`;
    case 'DeploymentSuccess': return `Certificate ${name} deployed`;
    case 'DeploymentFailure': return `Deployment failed for certificate ${name}`;
    case 'PolicyViolation': return `Policy violation on certificate ${name}`;
    case 'Revocation': return `Certificate ${name} revoked`;
    case 'HealthCheckDegraded': return `Endpoint serving ${name} is degraded`;
    case 'HealthCheckDown': return `Endpoint serving ${name} is down`;
    case 'HealthCheckCertMismatch': return `Endpoint expected to serve ${name} serves another certificate`;
    case 'HealthCheckRecovered': return `Endpoint serving ${name} is healthy again`;
    default: return `${type}: ${name}`;
  }
}

/**
 * Builds the message from the row and the certificate as it is now; when the certificate has been deleted,
 * from what the row kept when the alert was raised.
 */
export function buildAlertMessage(row: NotificationWithCertificate, linkBaseUrl: string, now = Date.now()): AlertMessage {
  const d = row.details ?? {};
  const certificateId = row.certificate_id ?? d.certificate_id ?? null;
  let certificate: AlertMessage['certificate'] = null;
  if (certificateId) {
    const live = row.live_name !== null;
    const expires = live ? row.live_expires_at : d.expires_at ? new Date(d.expires_at) : null;
    certificate = {
      id: certificateId,
      name: (live ? row.live_name : d.certificate_name) ?? certificateId,
      commonName: (live ? row.live_common_name : d.common_name) ?? '',
      expiresAt: expires ? expires.toISOString() : null,
      daysLeft: expires ? Math.floor((expires.getTime() - now) / DAY_MS) : null,
      url: `${linkBaseUrl}/certificates/${encodeURIComponent(certificateId)}`,
      deleted: !live,
    };
  }
  return {
    notificationId: row.id,
    type: row.type,
    severity: d.severity ?? 'warning',
    title: titleOf(row.type, certificate?.name ?? '(no certificate)', certificate?.daysLeft ?? null),
    text: row.message,
    recipient: row.recipient,
    createdAt: new Date(row.created_at).toISOString(),
    certificate,
  };
}

/** Label/value lines every channel shows: which certificate, when it expires, where to look. */
export function factsOf(message: AlertMessage): Array<[string, string]> {
  const facts: Array<[string, string]> = [];
  const c = message.certificate;
  if (c) {
    facts.push(['Certificate', `${c.name}${c.commonName && c.commonName !== c.name ? ` (${c.commonName})` : ''}${c.deleted ? ' [deleted]' : ''}`]);
    facts.push(['Expires', c.expiresAt ? `${c.expiresAt} (${describeExpiry(c.daysLeft)})` : 'unknown']);
    facts.push(['Link', c.url]);
  }
  facts.push(['Event', `${message.type} · ${message.severity}`]);
  facts.push(['Notification', message.notificationId]);
  return facts;
}

/** The plain-text rendering, shared by email and the generic webhook. */
export function plainTextOf(message: AlertMessage): string {
  return [message.title, '', message.text, '', ...factsOf(message).map(([k, v]) => `${k}: ${v}`)].join('\n');
}
