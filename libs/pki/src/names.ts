import { isIP } from 'node:net';

/** A subject alternative name as certctl stores it: one string per name, typed by its shape. */
export type SanType = 'dns' | 'ip' | 'email' | 'url';

export function sanTypeOf(value: string): SanType {
  if (isIP(value)) return 'ip';
  if (value.includes('@') && !value.includes('://')) return 'email';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return 'url';
  return 'dns';
}

/** Names compare case-insensitively for DNS and email, exactly otherwise; IPs in canonical form. */
export function normalizeName(value: string): string {
  const type = sanTypeOf(value);
  if (type === 'dns' || type === 'email') return value.toLowerCase().replace(/\.$/, '');
  return value;
}
