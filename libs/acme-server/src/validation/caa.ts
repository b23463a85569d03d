import type { CaaRecord } from 'node:dns';
import { isIP } from 'node:net';
import { dnsErrorText, dnsResolver, isNoRecord } from './addresses';

/**
 * CAA (RFC 8659) with the RFC 8657 `accounturi` and `validationmethods` parameters: may the CA whose identities are
 * `caaIdentities` issue for `name`? Used by the ACME server before issuing and by the orchestrator before it orders
 * from an ACME CA.
 */
export interface CaaCheckInput {
  /** A DNS name; `*.example.com` is the same as `example.com` with `wildcard: true`. IP addresses have no CAA (always allowed). */
  name: string;
  wildcard?: boolean;
  /** The issuer domain names the CA recognises as itself (case-insensitive), e.g. `letsencrypt.org`. */
  caaIdentities: string[];
  /** The ACME account URL, matched against an `accounturi` parameter (RFC 8657 §3). */
  accountUri?: string;
  /** The validation method label (`http-01`, `dns-01`, `tls-alpn-01`), matched against `validationmethods` (RFC 8657 §4). */
  validationMethod?: string;
  /** `host:port` of the DNS server to ask; the system's resolvers when absent. */
  resolver?: string;
  timeoutMs?: number;
}

export interface CaaCheckResult {
  allowed: boolean;
  /** When refused: the record that forbids, in presentation form, e.g. `example.com CAA 0 issue "other-ca.example"`. */
  record?: string;
  /** The domain whose CAA record set decided (the relevant RRset), or the last domain asked when none had one. */
  checkedAt: string;
}

/** A CAA lookup failed (SERVFAIL, timeout, refused): RFC 8659 §3 forbids issuing on a failed lookup, and the caller may retry. */
export class CaaLookupError extends Error {
  constructor(readonly domain: string, readonly reason: string) {
    super(`CAA lookup for ${domain} failed: ${reason}`);
    this.name = 'CaaLookupError';
  }
}

/** The property tags this implementation understands; any other tag with the critical flag forbids issuance (RFC 8659 §4.1). */
const KNOWN_TAGS = new Set(['issue', 'issuewild', 'iodef', 'contactemail', 'contactphone', 'issuemail', 'issuevmc']);
const CRITICAL_FLAG = 0x80;

export interface CaaProperty {
  flags: number;
  tag: string;
  value: string;
}

/** Node's resolveCaa answers `{ critical: flags, <tag>: value }`; this turns that into flags, tag and value. */
export function caaProperty(record: CaaRecord): CaaProperty {
  const entry = Object.entries(record).find(([key]) => key !== 'critical');
  return { flags: record.critical, tag: (entry?.[0] ?? '').toLowerCase(), value: String(entry?.[1] ?? '') };
}

export function formatCaa(domain: string, property: CaaProperty): string {
  return `${domain} CAA ${property.flags} ${property.tag} "${property.value.replace(/(["\\])/g, '\\$1')}"`;
}

/** An `issue`/`issuewild` value (RFC 8659 §4.2): the issuer (empty for ";") and its parameters; undefined when malformed. */
export function parseIssueValue(value: string): { issuer: string; parameters: Map<string, string> } | undefined {
  const [head = '', ...rest] = value.split(';');
  const issuer = head.trim().toLowerCase().replace(/\.$/, '');
  if (issuer && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(issuer)) return undefined;
  const parameters = new Map<string, string>();
  for (const [index, raw] of rest.entries()) {
    const text = raw.trim();
    if (!text && index === rest.length - 1) continue; // "ca.example;" — a trailing separator with nothing after it
    const match = /^([a-zA-Z0-9]+)\s*=\s*([\x21-\x3a\x3c-\x7e]*)$/.exec(text);
    if (!match) return undefined;
    parameters.set(match[1]!.toLowerCase(), match[2]!);
  }
  return { issuer, parameters };
}

/** Whether one `issue`/`issuewild` property authorises this CA, account and method. */
function authorises(property: CaaProperty, input: Pick<CaaCheckInput, 'caaIdentities' | 'accountUri' | 'validationMethod'>): boolean {
  const parsed = parseIssueValue(property.value);
  // A malformed value, or an empty issuer (";"), authorises nobody.
  if (!parsed || !parsed.issuer) return false;
  if (!input.caaIdentities.some((id) => id.toLowerCase().replace(/\.$/, '') === parsed.issuer)) return false;
  const accountUri = parsed.parameters.get('accounturi');
  if (accountUri !== undefined && accountUri !== input.accountUri) return false;
  const methods = parsed.parameters.get('validationmethods');
  if (methods !== undefined && !methods.split(',').map((m) => m.trim()).includes(input.validationMethod ?? '')) return false;
  return true;
}

/** Decides on one non-empty relevant record set (RFC 8659 §4.1–4.3), without any DNS. */
export function evaluateCaa(domain: string, records: CaaProperty[], input: Pick<CaaCheckInput, 'wildcard' | 'caaIdentities' | 'accountUri' | 'validationMethod'>): CaaCheckResult {
  const unknownCritical = records.find((r) => r.flags & CRITICAL_FLAG && !KNOWN_TAGS.has(r.tag));
  if (unknownCritical) return { allowed: false, record: formatCaa(domain, unknownCritical), checkedAt: domain };
  const issueWild = records.filter((r) => r.tag === 'issuewild');
  const relevant = input.wildcard && issueWild.length ? issueWild : records.filter((r) => r.tag === 'issue');
  // A set with no issue property (only iodef, say) restricts no CA.
  if (!relevant.length) return { allowed: true, checkedAt: domain };
  if (relevant.some((r) => authorises(r, input))) return { allowed: true, checkedAt: domain };
  return { allowed: false, record: formatCaa(domain, relevant[0]!), checkedAt: domain };
}

/**
 * RFC 8659 §3: the relevant record set is the first non-empty CAA set found at the name, then at each parent up to
 * (not including) the root. A CNAME at a name is followed by the resolver for that name's own answer; the climb goes
 * to the name's parent, not the alias target's.
 */
export async function checkCaa(input: CaaCheckInput): Promise<CaaCheckResult> {
  const wildcard = Boolean(input.wildcard) || input.name.startsWith('*.');
  const name = input.name.replace(/^\*\./, '').replace(/\.$/, '').toLowerCase();
  if (isIP(name)) return { allowed: true, checkedAt: name };
  const resolver = dnsResolver(input.resolver, input.timeoutMs ?? 5000);
  const labels = name.split('.');
  let domain = name;
  for (let i = 0; i < labels.length; i++) {
    domain = labels.slice(i).join('.');
    let records: CaaRecord[];
    try {
      records = await resolver.resolveCaa(domain);
    } catch (err) {
      if (isNoRecord(err)) continue;
      throw new CaaLookupError(domain, dnsErrorText(err));
    }
    if (records.length) return evaluateCaa(domain, records.map(caaProperty), { ...input, wildcard });
  }
  return { allowed: true, checkedAt: domain };
}
