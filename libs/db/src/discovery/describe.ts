import { createHash, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { certificateDerToPem, certificatePemToDer, fromGeneralNames, splitPemChain, x509 } from '@certctl/pki';

/** What the pipeline stores about one discovered certificate. */
export interface DiscoveredCertificateInput {
  fingerprint_sha256: string;
  common_name: string;
  sans: string[];
  serial_number: string;
  issuer_dn: string;
  subject_dn: string;
  not_before: Date;
  not_after: Date;
  key_algorithm: string;
  key_size: number;
  is_ca: boolean;
  pem_data: string;
  /** Every certificate presented or found with it, leaf first. */
  pem_chain: string;
  chain_length: number;
  source_path: string;
  source_format: 'PEM' | 'DER' | 'network';
}

type CertificateFields = Pick<DiscoveredCertificateInput,
  'common_name' | 'sans' | 'serial_number' | 'issuer_dn' | 'subject_dn' | 'not_before' | 'not_after' | 'key_algorithm' | 'key_size' | 'is_ca'>;

/**
 * Describes a certificate found in the wild. Unlike issuance, nothing is refused here: weak keys, odd curves,
 * expired and self-signed certificates are exactly what discovery must report.
 * OpenSSL's parser (node:crypto) describes the common certificate twenty times faster than the ASN.1 parser in
 * JavaScript, which a scan of thousands of endpoints spent most of its CPU in; any certificate whose names it
 * might render differently (escaped characters, unusual attributes or SAN types) goes through the latter, so the
 * stored text is the same either way.
 */
export function describeDiscovered(chain: string[] | Buffer[], source_path: string, source_format: DiscoveredCertificateInput['source_format']): DiscoveredCertificateInput {
  const pems = chain.map((c) => (Buffer.isBuffer(c) ? certificateDerToPem(c) : c));
  const leafPem = pems[0]!;
  const leafDer = Buffer.isBuffer(chain[0]) ? chain[0] : certificatePemToDer(leafPem);
  return {
    fingerprint_sha256: createHash('sha256').update(leafDer).digest('hex'),
    ...(describeNatively(leafDer) ?? describeWithAsn1Parser(leafPem)),
    pem_data: leafPem.endsWith('\n') ? leafPem : `${leafPem}\n`,
    pem_chain: pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''),
    chain_length: pems.length,
    source_path,
    source_format,
  };
}

const KEY_ALGORITHMS: Record<string, string> = { rsa: 'RSA', 'rsa-pss': 'RSA', ec: 'ECDSA', ed25519: 'Ed25519', ed448: 'Ed448' };
const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

function keyFields(key: KeyObject): Pick<CertificateFields, 'key_algorithm' | 'key_size'> {
  const details = key.asymmetricKeyDetails ?? {};
  const algorithm = KEY_ALGORITHMS[key.asymmetricKeyType ?? ''] ?? (key.asymmetricKeyType ?? '').toUpperCase();
  const size = details.modulusLength ?? CURVE_BITS[details.namedCurve ?? ''] ?? (algorithm === 'Ed25519' ? 256 : 0);
  return { key_algorithm: algorithm, key_size: size };
}

/** The reference description (@peculiar/x509): every certificate the native path declines. */
export function describeWithAsn1Parser(leafPem: string): CertificateFields {
  const cert = new x509.X509Certificate(leafPem.trim());
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  return {
    common_name: cert.subjectName.getField('CN')[0] ?? '',
    sans: san ? fromGeneralNames(san.names) : [],
    serial_number: cert.serialNumber.toLowerCase(),
    issuer_dn: cert.issuer,
    subject_dn: cert.subject,
    not_before: cert.notBefore,
    not_after: cert.notAfter,
    ...keyFields(createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' })),
    is_ca: basic?.ca ?? false,
  };
}

/** Attributes both parsers name alike, and values neither escapes. */
const PLAIN_ATTRIBUTES = new Set(['CN', 'O', 'OU', 'L', 'ST', 'C', 'DC']);
const PLAIN_VALUE = /^[A-Za-z0-9._*@'()/:-](?:[A-Za-z0-9 ._*@'()/:-]*[A-Za-z0-9._*@'()/:-])?$/;
const PLAIN_NAME = /^[A-Za-z0-9._*-]+$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** OpenSSL's one-attribute-per-line DN as the ASN.1 parser writes it ("CN=a, O=b"), or undefined when it might differ. */
function plainDn(dn: string): { text: string; cn: string } | undefined {
  if (!dn) return undefined;
  let cn: string | undefined;
  for (const line of dn.split('\n')) {
    const eq = line.indexOf('=');
    const attribute = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (eq < 1 || !PLAIN_ATTRIBUTES.has(attribute) || !PLAIN_VALUE.test(value)) return undefined;
    if (attribute === 'CN') cn ??= value;
  }
  return { text: dn.split('\n').join(', '), cn: cn ?? '' };
}

/** "DNS:a, IP Address:1.2.3.4, email:x@y" as a list, or undefined for anything but plain DNS names, IPv4 and e-mail. */
function plainSans(subjectAltName: string | undefined): string[] | undefined {
  if (!subjectAltName) return [];
  const sans: string[] = [];
  for (const entry of subjectAltName.split(', ')) {
    const colon = entry.indexOf(':');
    const type = entry.slice(0, colon);
    const value = entry.slice(colon + 1);
    if (type === 'DNS' && PLAIN_NAME.test(value)) sans.push(value);
    else if (type === 'IP Address' && IPV4.test(value)) sans.push(value);
    else if (type === 'email' && PLAIN_VALUE.test(value) && !value.includes(' ')) sans.push(value);
    else return undefined;
  }
  return sans;
}

/**
 * The serial number's bytes as encoded (as the ASN.1 parser shows them), read straight from the
 * DER: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, … } }.
 */
function derSerialHex(der: Buffer): string | undefined {
  let at = 0;
  const header = (): { tag: number; length: number } | undefined => {
    const tag = der[at++];
    let length = der[at++];
    if (tag === undefined || length === undefined) return undefined;
    if (length & 0x80) {
      const bytes = length & 0x7f;
      if (bytes < 1 || bytes > 4) return undefined;
      length = 0;
      for (let i = 0; i < bytes; i++) length = length * 256 + (der[at++] ?? NaN);
    }
    return Number.isNaN(length) ? undefined : { tag, length };
  };
  if (header()?.tag !== 0x30 || header()?.tag !== 0x30) return undefined;
  let next = header();
  if (next?.tag === 0xa0) {
    at += next.length; // the version
    next = header();
  }
  if (next?.tag !== 0x02 || next.length < 1 || at + next.length > der.length) return undefined;
  const bytes = der.subarray(at, at + next.length);
  // the ASN.1 parser leaves out the 00 that keeps a high first bit positive
  return (bytes.length > 1 && bytes[0] === 0 && bytes[1]! > 0x7f ? bytes.subarray(1) : bytes).toString('hex');
}

/** OpenSSL's description, or undefined when the certificate needs the ASN.1 parser. */
export function describeNatively(der: Buffer): CertificateFields | undefined {
  try {
    const cert = new X509Certificate(der);
    const subject = plainDn(cert.subject);
    const issuer = plainDn(cert.issuer);
    const sans = plainSans(cert.subjectAltName);
    const serial = derSerialHex(der);
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    if (!subject || !issuer || !sans || !serial || Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return undefined;
    return {
      common_name: subject.cn, sans, serial_number: serial, issuer_dn: issuer.text, subject_dn: subject.text,
      not_before: notBefore, not_after: notAfter, ...keyFields(cert.publicKey), is_ca: cert.ca,
    };
  } catch {
    return undefined; // the reference parser decides, and reports what it cannot read
  }
}

/** The certificates of a PEM bundle, leaf first. */
export function pemBlocks(bundle: string): string[] {
  return splitPemChain(bundle);
}
