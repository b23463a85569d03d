import { createHash, KeyObject, sign } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1 from '@peculiar/asn1-x509';
import { bitString, enumerated, TAG, explicit, integerOf, octetString, oid, sequence, tlv, unsignedInteger, x509Time } from './der';
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
}

const EXT = { authorityKeyIdentifier: '2.5.29.35', crlNumber: '2.5.29.20', reasonCode: '2.5.29.21' } as const;

function extension(id: string, value: Buffer): Buffer {
  return sequence(oid(id), octetString(value));
}

/**
 * A v2 CRL (RFC 5280 §5) signed by the issuer: AKI and CRL number extensions, one entry per revoked serial with
 * its reason code (omitted for `unspecified`, as §5.3.1 recommends). Returns the DER.
 */
export function buildCrl(params: CrlParams): Buffer {
  if (params.nextUpdate <= params.thisUpdate) throw new PkiError('POLICY', 'nextUpdate must be after thisUpdate');
  const { identifier } = signatureAlgorithm(params.signer.spec);
  const reasonExtensions = new Map<number, Buffer>();
  const entries = params.revoked.map((entry) => {
    const code = REVOCATION_REASONS[entry.reason];
    const parts = [unsignedInteger(Buffer.from(evenHex(entry.serialNumber), 'hex')), x509Time(entry.revokedAt)];
    if (code !== 0) {
      let ext = reasonExtensions.get(code);
      if (!ext) reasonExtensions.set(code, (ext = sequence(extension(EXT.reasonCode, enumerated(code)))));
      parts.push(ext);
    }
    return sequence(...parts);
  });
  const tbsParts = [
    integerOf(1), // v2
    identifier,
    params.issuer.subjectDer,
    x509Time(params.thisUpdate),
    x509Time(params.nextUpdate),
  ];
  // One concat for the whole list: a spread of 100,000 arguments would overflow the stack.
  if (entries.length) tbsParts.push(tlv(TAG.sequence, Buffer.concat(entries)));
  tbsParts.push(explicit(0, sequence(
    extension(EXT.authorityKeyIdentifier, sequence(tlv(0x80, params.issuer.keyIdentifier))),
    extension(EXT.crlNumber, integerOf(params.crlNumber)),
  )));
  return signed(sequence(...tbsParts), params.signer);
}

function evenHex(hex: string): string {
  if (!/^[0-9a-f]+$/i.test(hex)) throw new PkiError('MALFORMED', `serial ${hex} is not hex`);
  return hex.length % 2 ? `0${hex}` : hex;
}

/** The PEM form of a DER CRL. */
export function crlToPem(der: Buffer): string {
  return `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END X509 CRL-----\n`;
}
