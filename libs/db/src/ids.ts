import { randomBytes } from 'node:crypto';

/** certctl's id prefixes, one per table. Seeded fixtures may use readable ids (`iss-local`). */
export const ID_PREFIX = {
  team: 'team',
  owner: 'owner',
  renewalPolicy: 'rp',
  profile: 'prof',
  issuer: 'iss',
  agent: 'agent',
  certificate: 'mc',
  version: 'certver',
  target: 'target',
  job: 'job',
  policyRule: 'pr',
  violation: 'pv',
  notification: 'notif',
  audit: 'audit',
  apiKey: 'ak',
  networkScanTarget: 'nst',
  discoveryScan: 'dscan',
  discoveredCertificate: 'dcert',
  healthCheck: 'hc',
  agentGroup: 'ag',
  intermediateCa: 'ica',
  reissueDrill: 'drill',
  acmeEabKey: 'eab',
  acmeAccount: 'acct',
  acmeOrder: 'order',
  acmeAuthorization: 'authz',
  acmeChallenge: 'chall',
  oidcProvider: 'oidc',
  groupRoleMapping: 'grm',
  user: 'u',
  session: 'sess',
  breakglassCredential: 'bg',
  role: 'r',
  actorRole: 'ar',
  approvalRequest: 'apr',
} as const;
export type IdKind = keyof typeof ID_PREFIX;

/**
 * `<prefix>-<time><random>`: 10 base32 characters of milliseconds then 12 random ones, so ids sort by
 * creation time and never collide across processes.
 */
export function newId(kind: IdKind): string {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  let time = Date.now();
  let timePart = '';
  for (let i = 0; i < 10; i++) {
    timePart = alphabet[time % 32] + timePart;
    time = Math.floor(time / 32);
  }
  const random = randomBytes(12);
  let randomPart = '';
  for (const byte of random) randomPart += alphabet[byte % 32];
  return `${ID_PREFIX[kind]}-${timePart}${randomPart}`;
}

/** A client-supplied id: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
