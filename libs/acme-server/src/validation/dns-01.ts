import { createHash } from 'node:crypto';
import { dnsErrorText, dnsResolver, isNoRecord } from './addresses';
import { invalid, VALID, ValidationResult } from './problems';
import type { ValidateChallengeInput } from './index';

/** RFC 8555 §8.4: the TXT value a client publishes, base64url(SHA-256(keyAuthorization)). */
export function dns01TxtValue(keyAuthorization: string): string {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest('base64url');
}

/** The name the TXT record lives at; a wildcard identifier is validated at its base name (RFC 8555 §7.1.3). */
export function dns01RecordName(identifier: string): string {
  return `_acme-challenge.${identifier.replace(/^\*\./, '').replace(/\.$/, '')}`;
}

export async function validateDns01(input: ValidateChallengeInput, timeoutMs: number): Promise<ValidationResult> {
  if (input.identifier.type !== 'dns') return invalid('malformed', 'dns-01 validates DNS names only, not IP addresses (RFC 8738 §7)');
  const name = dns01RecordName(input.identifier.value);
  const expected = dns01TxtValue(input.keyAuthorization);
  let records: string[][];
  try {
    records = await dnsResolver(input.options?.dnsResolver, timeoutMs).resolveTxt(name);
  } catch (err) {
    if (isNoRecord(err)) return invalid('unauthorized', `No TXT record found at ${name}`);
    return invalid('dns', `DNS lookup of TXT ${name} failed: ${dnsErrorText(err)}`, true);
  }
  // A TXT record longer than 255 bytes arrives as several character-strings; its value is their concatenation.
  const values = records.map((chunks) => chunks.join(''));
  if (values.includes(expected)) return VALID;
  const shown = values.slice(0, 3).map((v) => JSON.stringify(v.slice(0, 64))).join(', ');
  return invalid('incorrectResponse', `Incorrect TXT record at ${name}: expected ${JSON.stringify(expected)}, found ${shown}${values.length > 3 ? ', …' : ''}`);
}
