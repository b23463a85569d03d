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

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Why `name` is not a DNS name per RFC 1123 (one leading `*` label allowed), or undefined when it is one. */
export function dnsNameProblem(name: string): string | undefined {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return 'must be 1 to 253 characters';
  const labels = bare.split('.');
  if (labels.some((l) => l === '')) return 'has an empty label';
  const [first, ...rest] = labels;
  if (first === '*') {
    if (rest.length < 2) return 'a wildcard needs at least two labels after it (*.example.com)';
  } else if (first!.includes('*')) {
    return 'a wildcard must be the whole leftmost label (*.example.com)';
  }
  for (const label of first === '*' ? rest : labels) {
    if (label.includes('*')) return 'a wildcard is only allowed as the leftmost label';
    if (label.length > 63) return `label "${label.slice(0, 20)}…" is longer than 63 characters`;
    if (!DNS_LABEL.test(label)) return `label "${label}" may hold only letters, digits and inner hyphens`;
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) return 'the last label must not be all digits (an IP address?)';
  return undefined;
}

/**
 * Why a subject alternative name is invalid, or undefined when it is valid: IP addresses must parse (v4 or v6),
 * DNS names follow RFC 1123 with one leading wildcard label, emails need a valid domain, URIs must parse.
 */
export function sanProblem(value: string): string | undefined {
  if (isIP(value)) return undefined;
  const type = sanTypeOf(value);
  if (type === 'email') {
    const at = value.lastIndexOf('@');
    if (at < 1) return 'is not a valid email address';
    const domain = dnsNameProblem(value.slice(at + 1));
    return domain ? `is not a valid email address: its domain ${domain}` : undefined;
  }
  if (type === 'url') {
    try {
      new URL(value);
      return undefined;
    } catch {
      return 'is not a valid URI';
    }
  }
  // Digits and dots only, or a colon (never in a DNS name): meant as an address.
  if (/^[\d.]+$/.test(value) || value.includes(':')) return 'is not a valid IP address';
  // A fully qualified "example.com." is the same name as "example.com" to DNS, but not to a TLS client comparing
  // the name it asked for: certificates carry names without the root dot.
  if (value.endsWith('.')) return 'must not end with a dot (write example.com, not example.com.)';
  const dns = dnsNameProblem(value);
  return dns ? `is not a valid DNS name: ${dns}` : undefined;
}

/**
 * Why a TLS certificate's common name is invalid, or undefined: it names the server, so it is a DNS name (one
 * leading wildcard label allowed) or an IP address, checked like those SANs ("bad name!" is neither).
 */
export function commonNameProblem(value: string): string | undefined {
  const type = sanTypeOf(value);
  if (type !== 'dns' && type !== 'ip') return 'must be a DNS name or an IP address';
  return sanProblem(value);
}

/** The SANs with the common name first when it is not among them (compared as names), so the CN is always a SAN. */
export function sansWithCommonName(commonName: string, sans: readonly string[]): string[] {
  const names = new Set(sans.map(normalizeName));
  return names.has(normalizeName(commonName)) ? [...sans] : [commonName, ...sans];
}
