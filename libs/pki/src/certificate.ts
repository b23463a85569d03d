import { createHash, randomBytes, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { x509 } from './crypto-provider';
import { PkiError } from './errors';
import { fromPem, KeySpec, keySize, keySpecOf, toPem, webCryptoParams } from './keys';
import { toGeneralNames, fromGeneralNames } from './csr';

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
  publicKey: x509.PublicKey | CryptoKey;
  commonName: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  ekus: string[];
  crlDistributionPoints?: string[];
  mustStaple?: boolean;
}

/** Signs an end-entity certificate: SANs, key usage for its key type, EKUs, AKI/SKI, CRL distribution points. */
export async function signLeafCertificate(ca: SigningAuthority, leaf: LeafRequest): Promise<string> {
  const publicKey = leaf.publicKey instanceof x509.PublicKey ? await leaf.publicKey.export() : leaf.publicKey;
  const isRsa = publicKey.algorithm.name.startsWith('RSA');
  const usages = x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usages, true),
    new x509.ExtendedKeyUsageExtension(leaf.ekus.map((e) => EKU_OIDS[e] ?? e), false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
  ];
  const names = leaf.sans.length ? leaf.sans : [leaf.commonName];
  extensions.push(new x509.SubjectAlternativeNameExtension(toGeneralNames(names)));
  if (leaf.crlDistributionPoints?.length) extensions.push(new x509.CRLDistributionPointsExtension(leaf.crlDistributionPoints));
  if (leaf.mustStaple) extensions.push(new x509.Extension('1.3.6.1.5.5.7.1.24', false, Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x05])));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [leaf.commonName] }],
    issuer: ca.certificate.subjectName,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: webCryptoParams(ca.keySpec).sign,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

/** A self-signed CA certificate (root), or a CA signed by `parent` (intermediate). */
export async function createCaCertificate(params: {
  keys: CryptoKeyPair;
  keySpec: KeySpec;
  commonName: string;
  validityDays: number;
  parent?: SigningAuthority;
  pathLength?: number;
}): Promise<string> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + params.validityDays * 86_400_000);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, params.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(params.keys.publicKey),
  ];
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
