import { createHash, KeyObject, sign } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1 from '@peculiar/asn1-x509';
import { bitString, enumerated, TAG, explicit, integerOf, octetString, oid, sequence, tlv, x509Time } from './der';
import { PkiError } from './errors';
import { KeySpec } from './keys';

/** RFC 5280 §5.3.1 reason codes under the names certctl uses on its API. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(REVOCATION_REASONS, value);
}

export function reasonName(code: number): RevocationReason | undefined {
  return (Object.keys(REVOCATION_REASONS) as RevocationReason[]).find((k) => REVOCATION_REASONS[k] === code);
}

/** What a CA needs to sign CRLs and to recognise OCSP CertIDs naming it: decoded once from its certificate. */
export interface IssuerIdentity {
  certificateDer: Buffer;
  subjectDer: Buffer;
  /** The BIT STRING content of its subjectPublicKey (what CertID's issuerKeyHash hashes). */
  publicKeyBits: Buffer;
  /** Its subject key identifier (else SHA-1 of the key bits), for the CRL's authority key identifier. */
  keyIdentifier: Buffer;
}

export function issuerIdentityOf(certificateDer: Buffer): IssuerIdentity {
  let cert: asn1.Certificate;
  try {
    cert = AsnConvert.parse(certificateDer, asn1.Certificate);
  } catch {
    throw new PkiError('MALFORMED', 'not a DER X.509 certificate');
  }
  const tbs = cert.tbsCertificate;
  const publicKeyBits = Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey);
  const ski = tbs.extensions?.find((e) => e.extnID === '2.5.29.14');
  const keyIdentifier = ski
    ? Buffer.from(AsnConvert.parse(ski.extnValue.buffer, asn1.SubjectKeyIdentifier).buffer)
    : createHash('sha1').update(publicKeyBits).digest();
  return { certificateDer, subjectDer: Buffer.from(AsnConvert.serialize(tbs.subject)), publicKeyBits, keyIdentifier };
}

export interface Signer {
  key: KeyObject;
  spec: KeySpec;
}

/** The signature AlgorithmIdentifier and digest for a signer's key (as certificates are signed in libs/pki). */
export function signatureAlgorithm(spec: KeySpec): { identifier: Buffer; hash: string } {
  if (spec.algorithm === 'ECDSA') {
    return spec.curve === 'P-384'
      ? { identifier: sequence(oid('1.2.840.10045.4.3.3')), hash: 'sha384' }
      : { identifier: sequence(oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
  }
  return { identifier: sequence(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00])), hash: 'sha256' };
}

/** SEQUENCE { tbs, algorithm, BIT STRING signature }: the shape of certificates, CRLs and BasicOCSPResponse. */
export function signed(tbs: Buffer, signer: Signer, trailer: Buffer[] = []): Buffer {
  const { identifier, hash } = signatureAlgorithm(signer.spec);
  return sequence(tbs, identifier, bitString(sign(hash, tbs, signer.key)), ...trailer);
}

export interface RevokedEntry {
  /** Lowercase hex. */
  serialNumber: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface CrlParams {
  issuer: IssuerIdentity;
  signer: Signer;
  crlNumber: bigint | number;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: RevokedEntry[];
  /**
   * A partitioned (sharded) CRL: the URL of the CRL Distribution Point written in the certificates it covers.
   * The CRL then carries a critical Issuing Distribution Point naming it (RFC 5280 §5.2.5), so a relying party
   * uses it only for those certificates.
   */
  distributionPoint?: string;
}

const EXT = {
  authorityKeyIdentifier: '2.5.29.35', crlNumber: '2.5.29.20', reasonCode: '2.5.29.21', issuingDistributionPoint: '2.5.29.28',
} as const;

function extension(id: string, value: Buffer, critical = false): Buffer {
  return critical ? sequence(oid(id), Buffer.from([TAG.boolean, 1, 0xff]), octetString(value)) : sequence(oid(id), octetString(value));
}

/** IssuingDistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] url } } }. */
function issuingDistributionPoint(url: string): Buffer {
  return sequence(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(url, 'ascii')))));
}

/**
 * The partition of a certificate's serial among `shards` CRLs: its low 32 bits modulo the count. Serials are
 * random, so shards fill evenly, and anyone holding the serial can tell its shard.
 */
export function crlShardOf(serialHex: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new PkiError('POLICY', 'the shard count must be a positive whole number');
  return parseInt(serialHex.slice(-8) || '0', 16) % shards;
}

/**
 * A v2 CRL (RFC 5280 §5) signed by the issuer: AKI and CRL number extensions (and an Issuing Distribution Point
 * for a shard), one entry per revoked serial with its reason code (omitted for `unspecified`, as §5.3.1
 * recommends). Returns the DER.
 */
export function buildCrl(params: CrlParams): Buffer {
  if (params.nextUpdate <= params.thisUpdate) throw new PkiError('POLICY', 'nextUpdate must be after thisUpdate');
  const { identifier } = signatureAlgorithm(params.signer.spec);
  const tbsParts = [
    integerOf(1), // v2
    identifier,
    params.issuer.subjectDer,
    x509Time(params.thisUpdate),
    x509Time(params.nextUpdate),
  ];
  if (params.revoked.length) tbsParts.push(revokedCertificates(params.revoked));
  const extensions = [
    extension(EXT.authorityKeyIdentifier, sequence(tlv(0x80, params.issuer.keyIdentifier))),
    extension(EXT.crlNumber, integerOf(params.crlNumber)),
  ];
  if (params.distributionPoint !== undefined) extensions.push(extension(EXT.issuingDistributionPoint, issuingDistributionPoint(params.distributionPoint), true));
  tbsParts.push(explicit(0, sequence(...extensions)));
  return signed(sequence(...tbsParts), params.signer);
}

/** crlEntryExtensions with the reason code, per code (the same few bytes in every entry of that reason). */
const REASON_EXTENSIONS = new Map<number, Buffer>(
  Object.values(REVOCATION_REASONS).filter((code) => code !== 0).map((code) => [code, sequence(extension(EXT.reasonCode, enumerated(code)))]),
);

/** Bytes of a DER length field for a content of `n` bytes. */
function lengthSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5;
}

function writeLength(out: Buffer, at: number, n: number): number {
  const size = lengthSize(n);
  if (size === 1) {
    out[at] = n;
    return at + 1;
  }
  out[at] = 0x80 | (size - 1);
  for (let i = size - 1; i >= 1; i--, n = Math.floor(n / 256)) out[at + i] = n & 0xff;
  return at + size;
}

/** The value of a hex digit's character code, or -1. */
function nibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * The revokedCertificates SEQUENCE, written straight into one buffer in two passes (sizes, then bytes), serials
 * read digit by digit: a million entries cost a few hundred milliseconds and about their encoded size in
 * memory, where a Buffer (or an ASN.1 object) per field and entry cost seconds and gigabytes.
 */
function revokedCertificates(revoked: RevokedEntry[]): Buffer {
  const count = revoked.length;
  const firstDigit = new Uint8Array(count); // the serial's first significant hex digit (leading zeros skipped)
  const serialBytes = new Uint8Array(count); // INTEGER content length (with a 00 when the top bit is set)
  const entryLength = new Uint32Array(count); // SEQUENCE content length
  let total = 0;
  for (let i = 0; i < count; i++) {
    const entry = revoked[i]!;
    const hex = entry.serialNumber;
    if (!hex.length || hex.length > 64) throw new PkiError('MALFORMED', `serial ${hex} is not hex`);
    let first = -1;
    for (let c = 0; c < hex.length; c++) {
      const value = nibble(hex.charCodeAt(c));
      if (value < 0) throw new PkiError('MALFORMED', `serial ${hex} is not hex`);
      if (first < 0 && value !== 0) first = c;
    }
    if (first < 0) first = hex.length - 1; // zero: one 00 octet
    const digits = hex.length - first;
    // Whole octets: an odd count of significant digits gets a high 0 nibble; a set top bit gets a 00 octet.
    const topBit = digits % 2 === 0 && nibble(hex.charCodeAt(first)) >= 8 ? 1 : 0;
    firstDigit[i] = first;
    serialBytes[i] = Math.ceil(digits / 2) + topBit;
    const time = entry.revokedAt.getUTCFullYear() >= 2050 ? 17 : 15;
    const reason = REVOCATION_REASONS[entry.reason];
    const length = 2 + serialBytes[i]! + time + (reason ? REASON_EXTENSIONS.get(reason)!.length : 0);
    entryLength[i] = length;
    total += 1 + lengthSize(length) + length;
  }
  const out = Buffer.allocUnsafe(1 + lengthSize(total) + total);
  out[0] = TAG.sequence;
  let at = writeLength(out, 1, total);
  for (let i = 0; i < count; i++) {
    const entry = revoked[i]!;
    out[at++] = TAG.sequence;
    at = writeLength(out, at, entryLength[i]!);
    out[at++] = TAG.integer;
    out[at++] = serialBytes[i]!;
    const hex = entry.serialNumber;
    let c = firstDigit[i]!;
    const digits = hex.length - c;
    if (digits % 2) out[at++] = nibble(hex.charCodeAt(c++));
    else if (serialBytes[i]! > digits / 2) out[at++] = 0;
    for (; c < hex.length; c += 2) out[at++] = (nibble(hex.charCodeAt(c)) << 4) | nibble(hex.charCodeAt(c + 1));
    at = writeTime(out, at, entry.revokedAt);
    const reason = REVOCATION_REASONS[entry.reason];
    if (reason) at += REASON_EXTENSIONS.get(reason)!.copy(out, at);
  }
  if (at !== out.length) throw new PkiError('MALFORMED', 'CRL entries were not encoded to their computed size');
  return out;
}

/** RFC 5280 Time in place: UTCTime YYMMDDHHMMSSZ through 2049, GeneralizedTime YYYYMMDDHHMMSSZ after. */
function writeTime(out: Buffer, at: number, date: Date): number {
  const year = date.getUTCFullYear();
  const generalized = year >= 2050;
  out[at++] = generalized ? TAG.generalizedTime : TAG.utcTime;
  out[at++] = generalized ? 15 : 13;
  if (generalized) at = twoDigits(out, twoDigits(out, at, Math.floor(year / 100)), year % 100);
  else at = twoDigits(out, at, year % 100);
  at = twoDigits(out, at, date.getUTCMonth() + 1);
  at = twoDigits(out, at, date.getUTCDate());
  at = twoDigits(out, at, date.getUTCHours());
  at = twoDigits(out, at, date.getUTCMinutes());
  at = twoDigits(out, at, date.getUTCSeconds());
  out[at++] = 0x5a; // 'Z'
  return at;
}

function twoDigits(out: Buffer, at: number, n: number): number {
  out[at] = 0x30 + Math.floor(n / 10);
  out[at + 1] = 0x30 + (n % 10);
  return at + 2;
}

/** The PEM form of a DER CRL. */
export function crlToPem(der: Buffer): string {
  return `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END X509 CRL-----\n`;
}
