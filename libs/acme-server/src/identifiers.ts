import { isIP } from 'node:net';
import type { AcmeIdentifier } from '@certctl/db';
import { AcmeProblem, ProblemDocument, subproblem } from './problem';

/** Identifiers one order may carry. */
export const MAX_IDENTIFIERS = 100;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Checks and normalises new-order identifiers: `dns` names (a leading `*.` for wildcards) and `ip` addresses
 * (RFC 8738, in canonical form). An IP address sent as a `dns` identifier (what clients without RFC 8738 do) is
 * refused. Every bad identifier is a subproblem of one `rejectedIdentifier`/`malformed` problem.
 */
export function normaliseIdentifiers(raw: unknown, patterns: string[]): AcmeIdentifier[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new AcmeProblem('malformed', 'identifiers must be a non-empty array');
  if (raw.length > MAX_IDENTIFIERS) throw new AcmeProblem('rejectedIdentifier', `an order may carry at most ${MAX_IDENTIFIERS} identifiers`);
  const problems: ProblemDocument[] = [];
  const seen = new Map<string, AcmeIdentifier>();
  let onlyMalformed = true;
  for (const item of raw as Array<Record<string, unknown>>) {
    const type = item && typeof item === 'object' ? item.type : undefined;
    const value = item && typeof item === 'object' ? item.value : undefined;
    const ref = { type: String(type), value: String(value) };
    if (typeof value !== 'string' || (type !== 'dns' && type !== 'ip')) {
      problems.push(subproblem(type === 'dns' || type === 'ip' ? 'malformed' : 'unsupportedIdentifier', 'identifier type must be dns or ip with a string value', ref));
      if (type !== 'dns' && type !== 'ip') onlyMalformed = false;
      continue;
    }
    let normalised: AcmeIdentifier;
    if (type === 'ip') {
      const family = isIP(value);
      if (!family) {
        problems.push(subproblem('malformed', `${value} is not an IP address`, ref));
        continue;
      }
      normalised = { type, value: canonicalIp(value, family) };
    } else {
      const name = value.toLowerCase().replace(/\.$/, '');
      if (isIP(name) || isIP(name.replace(/^\[|\]$/g, ''))) {
        problems.push(subproblem('rejectedIdentifier', `${value} is an IP address: send it as an "ip" identifier (RFC 8738)`, ref));
        onlyMalformed = false;
        continue;
      }
      const base = name.startsWith('*.') ? name.slice(2) : name;
      const labels = base.split('.');
      if (name.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l)) || base.includes('*')) {
        problems.push(subproblem('malformed', `${value} is not a valid DNS name`, ref));
        continue;
      }
      normalised = { type, value: name };
    }
    const unmatched = patterns.find((p) => !new RegExp(`^(?:${p})$`, 'i').test(normalised.value));
    if (unmatched !== undefined) {
      problems.push(subproblem('rejectedIdentifier', `${normalised.value} is not allowed by the profile (pattern ${unmatched})`, normalised));
      onlyMalformed = false;
      continue;
    }
    seen.set(`${normalised.type}:${normalised.value}`, normalised);
  }
  if (problems.length) {
    const type = onlyMalformed ? 'malformed' : 'rejectedIdentifier';
    throw new AcmeProblem(type, `identifiers refused: ${problems.map((p) => p.detail).join('; ')}`, { subproblems: problems });
  }
  return [...seen.values()].sort((a, b) => `${a.type}:${a.value}`.localeCompare(`${b.type}:${b.value}`));
}

function canonicalIp(value: string, family: number): string {
  if (family === 4) return value.split('.').map((o) => String(Number(o))).join('.');
  // The URL parser prints an IPv6 address in its RFC 5952 form.
  return new URL(`http://[${value}]/`).hostname.slice(1, -1);
}

/** The names a certificate for these identifiers carries (wildcards included, IPs as text). */
export function identifierNames(identifiers: AcmeIdentifier[]): string[] {
  return identifiers.map((i) => i.value);
}
