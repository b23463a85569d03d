import { createHash, KeyObject, randomBytes, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1 from '@peculiar/asn1-x509';
import { x509 } from './crypto-provider';
import { PkiError } from './errors';
import { fromPem, KeySpec, keySize, keySpecOf, toPem, webCryptoParams } from './keys';
import { BuiltCertificate, buildLeafCertificate, CertificateAuthorityTemplate, caTemplateOf, keyObjectOf, spkiDerOf } from './der-builder';

export const EKU_OIDS: Record<string, string> = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
  codeSigning: x509.ExtendedKeyUsage.codeSigning,
  emailProtection: x509.ExtendedKeyUsage.emailProtection,
  timeStamping: x509.ExtendedKeyUsage.timeStamping,
  OCSPSigning: x509.ExtendedKeyUsage.ocspSigning,
};

/** A random positive 128-bit serial (RFC 5280: positive, at most 20 octets), as lowercase hex. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and never a leading zero octet
  return bytes.toString('hex');
}

export interface SigningAuthority {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
  keySpec: KeySpec;
}

export interface LeafRequest {
  publicKey: x509.PublicKey | CryptoKey | KeyObject;
  commonName: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  ekus: string[];
  crlDistributionPoints?: string[];
  mustStaple?: boolean;
  ocspUrls?: string[];
  ocspNoCheck?: boolean;
  /** A serial chosen by the caller (lowercase hex, e.g. to derive the CRL shard from it); random otherwise. */
  serialNumberHex?: string;
}

/** Per CA certificate: its subject, key identifier and signing KeyObject, decoded once. */
const caTemplates = new WeakMap<x509.X509Certificate, CertificateAuthorityTemplate>();

function caTemplate(ca: SigningAuthority): CertificateAuthorityTemplate {
  let template = caTemplates.get(ca.certificate);
  if (!template) {
    template = caTemplateOf(ca.certificate.rawData, keyObjectOf(ca.privateKey), ca.keySpec);
    caTemplates.set(ca.certificate, template);
  }
  return template;
}

/**
 * Signs an end-entity certificate: SANs, key usage for its key type, EKUs, AKI/SKI, CRL distribution points.
 * Synchronous, and returns what was put in it (serial, dates, fingerprint), so callers need not parse it back.
 */
export function issueLeafCertificate(ca: SigningAuthority, leaf: LeafRequest): BuiltCertificate {
  return buildLeafCertificate(caTemplate(ca), {
    serialNumberHex: leaf.serialNumberHex ?? randomSerial(),
    subjectPublicKey: leaf.publicKey instanceof KeyObject ? leaf.publicKey : spkiDerOf(leaf.publicKey),
    commonName: leaf.commonName,
    sans: leaf.sans,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    ekuOids: leaf.ekus.map((e) => EKU_OIDS[e] ?? e),
    crlDistributionPoints: leaf.crlDistributionPoints,
    mustStaple: leaf.mustStaple,
    ocspUrls: leaf.ocspUrls,
    ocspNoCheck: leaf.ocspNoCheck,
  });
}

/** signLeafCertificate's PEM (kept for callers that only want the PEM). */
export async function signLeafCertificate(ca: SigningAuthority, leaf: LeafRequest): Promise<string> {
  return issueLeafCertificate(ca, leaf).pem;
}

/** A self-signed CA certificate (root), or a CA signed by `parent` (intermediate). */
export async function createCaCertificate(params: {
  keys: CryptoKeyPair;
  keySpec: KeySpec;
  commonName: string;
  validityDays: number;
  parent?: SigningAuthority;
  pathLength?: number;
  /** DNS name constraints (RFC 5280 §4.2.1.10), critical: leaves below may only name these subtrees. */
  nameConstraints?: { permittedDnsDomains?: string[]; excludedDnsDomains?: string[] };
  /** Caps the end (an intermediate never outlives its parent). */
  notAfter?: Date;
}): Promise<string> {
  const notBefore = new Date(Date.now() - 60_000);
  const wanted = new Date(notBefore.getTime() + params.validityDays * 86_400_000);
  const notAfter = params.notAfter && params.notAfter < wanted ? params.notAfter : wanted;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, params.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(params.keys.publicKey),
  ];
  const constraints = params.nameConstraints;
  if (constraints && (constraints.permittedDnsDomains?.length || constraints.excludedDnsDomains?.length)) {
    const subtrees = (names: string[] | undefined) => names?.length
      ? new asn1.GeneralSubtrees(names.map((dNSName) => new asn1.GeneralSubtree({ base: new asn1.GeneralName({ dNSName }) })))
      : undefined;
    const value = new asn1.NameConstraints({ permittedSubtrees: subtrees(constraints.permittedDnsDomains), excludedSubtrees: subtrees(constraints.excludedDnsDomains) });
    extensions.push(new x509.Extension('2.5.29.30', true, AsnConvert.serialize(value)));
  }
  const signer = params.parent ?? { privateKey: params.keys.privateKey, keySpec: params.keySpec, certificate: undefined };
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(signer.certificate ?? params.keys.publicKey));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [params.commonName] }],
    issuer: signer.certificate ? signer.certificate.subjectName : [{ CN: [params.commonName] }],
    notBefore,
    notAfter,
    publicKey: params.keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: webCryptoParams(signer.keySpec).sign,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

export interface CertificateInfo {
  serialNumber: string;
  subject: string;
  issuer: string;
  commonName: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  fingerprintSha256: string;
  keyAlgorithm: string;
  keySize: number;
  isCa: boolean;
}

export function parseCertificate(pem: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem.trim());
  } catch {
    throw new PkiError('MALFORMED', 'not a PEM-encoded X.509 certificate');
  }
}

/**
 * What certctl records about a certificate version. Read with Node's native X.509 parser, which is an order of
 * magnitude cheaper than decoding the ASN.1 in JavaScript — this runs once per issued certificate.
 */
export function describeCertificate(pem: string): CertificateInfo {
  let cert: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(firstCertificate(pem));
  } catch {
    throw new PkiError('MALFORMED', 'not a PEM-encoded X.509 certificate');
  }
  const spec = keySpecOf(cert.publicKey);
  return {
    serialNumber: cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, ''),
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    commonName: /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? '',
    sans: parseSubjectAltName(cert.subjectAltName),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprintSha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    keyAlgorithm: spec.algorithm,
    keySize: keySize(spec),
    isCa: cert.ca,
  };
}

function firstCertificate(pem: string): string {
  const block = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem);
  if (!block) throw new PkiError('MALFORMED', 'not a PEM-encoded X.509 certificate');
  return block[0];
}

/** Node prints names one attribute per line; certctl shows them comma-separated. */
function oneLineName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/** `DNS:a.example.com, IP Address:127.0.0.1, email:x@y, URI:spiffe://…` as plain values. */
function parseSubjectAltName(text: string | undefined): string[] {
  if (!text) return [];
  return text.split(', ').map((entry) => entry.replace(/^(DNS|IP Address|email|URI):/, '')).filter(Boolean);
}

/** SHA-256 over the DER of the first certificate in the PEM, lowercase hex. */
export function fingerprintSha256(pem: string): string {
  return createHash('sha256').update(fromPem(pem, 'CERTIFICATE')).digest('hex');
}

/** Every PEM certificate block in a bundle, in order. */
export function splitPemChain(bundle: string): string[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => `${b}\n`);
}

export function certificatePemToDer(pem: string): Buffer {
  return fromPem(pem, 'CERTIFICATE');
}

export function certificateDerToPem(der: Buffer): string {
  return toPem(der, 'CERTIFICATE');
}

/**
 * Builds the chain from the leaf through the given intermediates to one of the trusted roots and checks every
 * signature and validity period. Returns the chain (leaf first) or throws PkiError('CHAIN').
 */
export async function verifyChain(leafPem: string, intermediatePems: string[], rootPems: string[], at = new Date()): Promise<string[]> {
  const leaf = parseCertificate(leafPem);
  const pool = [...intermediatePems, ...rootPems].map(parseCertificate);
  const chain = await new x509.X509ChainBuilder({ certificates: pool }).build(leaf);
  const top = chain[chain.length - 1]!;
  const roots = rootPems.map((p) => fingerprintSha256(p));
  if (!roots.includes(fingerprintSha256(top.toString('pem')))) throw new PkiError('CHAIN', 'the chain does not end at a trusted root');
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1] ?? cert;
    if (at < cert.notBefore || at > cert.notAfter) throw new PkiError('CHAIN', `${cert.subject} is outside its validity period`);
    if (!(await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }))) {
      throw new PkiError('CHAIN', `${cert.subject} is not signed by ${issuer.subject}`);
    }
  }
  return chain.map((c) => c.toString('pem') + '\n');
}
