const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];
const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function relativeTime(iso: string, now = Date.now()): string {
  const delta = new Date(iso).getTime() - now;
  for (const [unit, ms] of UNITS) if (Math.abs(delta) >= ms || unit === 'second') return relativeFormat.format(Math.round(delta / ms), unit);
  return '';
}

export function absoluteTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** "in 3 days", with the absolute time on hover and for assistive technology. */
export function RelativeTime({ iso, empty = '—' }: { iso?: string | null; empty?: string }) {
  if (!iso) return <span className="muted">{empty}</span>;
  return (
    <time dateTime={iso} title={absoluteTime(iso)}>
      {relativeTime(iso)}
    </time>
  );
}

/** Urgency of an expiry: expired, under 7 days, under 30 days, fine. */
export function expiryTone(iso?: string | null, now = Date.now()): 'expired' | 'critical' | 'warning' | 'ok' | 'none' {
  if (!iso) return 'none';
  const days = (new Date(iso).getTime() - now) / 86_400_000;
  if (days < 0) return 'expired';
  if (days < 7) return 'critical';
  if (days < 30) return 'warning';
  return 'ok';
}

export function Expiry({ iso }: { iso?: string | null }) {
  const tone = expiryTone(iso);
  if (!iso) return <span className="muted">—</span>;
  return (
    <span className={`expiry expiry-${tone}`}>
      <RelativeTime iso={iso} />
    </span>
  );
}

export function StatusBadge({ status }: { status?: string | null }) {
  if (!status) return <span className="muted">—</span>;
  return <span className={`badge badge-${status.toLowerCase()}`}>{status}</span>;
}
