import { keySize, ParsedCsr } from '@certctl/pki';
import type { ProfileConstraints } from './issuer-connector';

/** The profile's first allowed algorithm decides what server-side key generation makes. */
export const DEFAULT_PROFILE: ProfileConstraints = {
  allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }, { algorithm: 'RSA', min_size: 2048 }],
  max_ttl_seconds: 0,
  allowed_ekus: ['serverAuth'],
  required_san_patterns: [],
  must_staple: false,
};

/** Why the CSR breaks the profile (key algorithm and size, SAN patterns), or undefined when it complies. */
export function profileViolation(csr: Pick<ParsedCsr, 'keySpec' | 'sans' | 'commonName'>, profile: ProfileConstraints | null): string | undefined {
  const p = profile ?? DEFAULT_PROFILE;
  const size = keySize(csr.keySpec);
  const allowed = p.allowed_key_algorithms.length ? p.allowed_key_algorithms : DEFAULT_PROFILE.allowed_key_algorithms;
  if (!allowed.some((a) => a.algorithm === csr.keySpec.algorithm && size >= a.min_size)) {
    const list = allowed.map((a) => `${a.algorithm} ≥ ${a.min_size}`).join(', ');
    return `key ${csr.keySpec.algorithm} ${size} is not allowed by the profile (${list})`;
  }
  const names = csr.sans.length ? csr.sans : [csr.commonName];
  for (const pattern of p.required_san_patterns) {
    const re = new RegExp(`^(?:${pattern})$`, 'i');
    const bad = names.find((n) => !re.test(n));
    if (bad) return `name ${bad} does not match the profile's pattern ${pattern}`;
  }
  return undefined;
}

/** Validity of a new certificate: the issuer's default, shortened to the profile's max TTL when it has one. */
export function validityFor(profile: ProfileConstraints | null, issuerDefaultDays: number, now = new Date()): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(now.getTime() - 60_000); // a minute of slack for clock skew
  let seconds = issuerDefaultDays * 86_400;
  if (profile?.max_ttl_seconds && profile.max_ttl_seconds < seconds) seconds = profile.max_ttl_seconds;
  return { notBefore, notAfter: new Date(now.getTime() + seconds * 1000) };
}
