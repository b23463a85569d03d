import { EntityManager } from 'typeorm';
import { NotificationEventEntity } from './entities';
import { newId } from './ids';

/** Notification type of digest rows: one per recipient, delivered by email and rendered when sent. */
export const DIGEST_NOTIFICATION_TYPE = 'Digest';

/** Certificates listed in one digest at most; the totals still count all of them. */
const DIGEST_LIST_LIMIT = 500;

export interface DigestCertificate {
  id: string;
  name: string;
  common_name: string;
  status: string;
  expires_at: string;
  days_left: number;
  owner_email: string | null;
}

export interface Digest {
  generated_at: string;
  window_days: number;
  total_expiring: number;
  total_expired: number;
  /** Soonest first; expired ones (negative days_left) lead. */
  certificates: DigestCertificate[];
  subject: string;
  html: string;
  text: string;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * The expiry digest: every certificate that is not archived or revoked and expires within `windowDays`
 * (or already has), as an HTML email and a plain-text alternative.
 */
export async function buildDigest(manager: EntityManager, options: { windowDays: number; linkBaseUrl: string }): Promise<Digest> {
  const window = `${options.windowDays} days`;
  const [totals] = await manager.query<Array<{ expiring: string; expired: string }>>(
    `SELECT count(*) FILTER (WHERE expires_at >= now()) AS expiring, count(*) FILTER (WHERE expires_at < now()) AS expired
       FROM managed_certificates
      WHERE status NOT IN ('Archived', 'Revoked') AND expires_at < now() + $1::interval`,
    [window],
  );
  const rows = await manager.query<Array<Omit<DigestCertificate, 'days_left' | 'expires_at'> & { expires_at: Date }>>(
    `SELECT c.id, c.name, c.common_name, c.status, c.expires_at, o.email AS owner_email
       FROM managed_certificates c LEFT JOIN owners o ON o.id = c.owner_id
      WHERE c.status NOT IN ('Archived', 'Revoked') AND c.expires_at < now() + $1::interval
      ORDER BY c.expires_at, c.id
      LIMIT ${DIGEST_LIST_LIMIT}`,
    [window],
  );
  const now = Date.now();
  const certificates = rows.map((r) => ({
    ...r,
    expires_at: new Date(r.expires_at).toISOString(),
    days_left: Math.floor((new Date(r.expires_at).getTime() - now) / 86_400_000),
  }));
  const expiring = Number(totals?.expiring ?? 0);
  const expired = Number(totals?.expired ?? 0);
  const generatedAt = new Date(now).toISOString();
  const subject = `[certctl] Certificate digest: ${expiring} expiring within ${options.windowDays} days, ${expired} expired`;
  const link = (id: string) => `${options.linkBaseUrl}/certificates/${encodeURIComponent(id)}`;

  const tableRows = certificates.map((c) => `
      <tr${c.days_left < 0 ? ' style="color:#b00020"' : ''}>
        <td><a href="${escapeHtml(link(c.id))}">${escapeHtml(c.name)}</a></td>
        <td>${escapeHtml(c.common_name)}</td>
        <td>${escapeHtml(c.expires_at.slice(0, 10))}</td>
        <td>${c.days_left < 0 ? `expired ${-c.days_left} days ago` : `${c.days_left} days`}</td>
        <td>${escapeHtml(c.owner_email ?? '')}</td>
      </tr>`).join('');
  const more = expiring + expired > certificates.length ? `<p>…and ${expiring + expired - certificates.length} more.</p>` : '';
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family:sans-serif">
  <h2>certctl certificate digest</h2>
  <p>${expiring} certificate(s) expire within ${options.windowDays} days; ${expired} have expired. Generated ${escapeHtml(generatedAt)}.</p>
  ${certificates.length ? `<table border="1" cellpadding="4" cellspacing="0">
    <thead><tr><th>Certificate</th><th>Common name</th><th>Expires</th><th>Left</th><th>Owner</th></tr></thead>
    <tbody>${tableRows}
    </tbody>
  </table>` : '<p>Nothing expires in this window.</p>'}
  ${more}
</body></html>
`;
  const text = [
    `certctl certificate digest (${generatedAt})`,
    `${expiring} expiring within ${options.windowDays} days, ${expired} expired.`,
    '',
    ...certificates.map((c) => `- ${c.name} (${c.common_name}) expires ${c.expires_at.slice(0, 10)} [${c.days_left} days] ${link(c.id)}`),
  ].join('\n');
  return { generated_at: generatedAt, window_days: options.windowDays, total_expiring: expiring, total_expired: expired, certificates, subject, html, text };
}

/** Inserts one pending digest row per recipient (Email); the notifier renders the digest when it sends. */
export async function recordDigest(tx: EntityManager, recipients: readonly string[]): Promise<string[]> {
  const rows = recipients.map((recipient) => ({
    id: newId('notification'),
    type: DIGEST_NOTIFICATION_TYPE,
    certificate_id: null,
    channel: 'Email',
    recipient,
    message: 'Certificate expiry digest',
    status: 'pending' as const,
    details: { severity: 'info' },
  }));
  if (rows.length) await tx.insert(NotificationEventEntity, rows);
  return rows.map((r) => r.id);
}
