import { createPublicKey } from 'node:crypto';
import { certificateDerToPem, fingerprintSha256, fromGeneralNames, splitPemChain, x509 } from '@certctl/pki';

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

/**
 * Describes a certificate found in the wild. Unlike issuance, nothing is refused here: weak keys, odd curves,
 * expired and self-signed certificates are exactly what discovery must report.
 */
export function describeDiscovered(chain: string[] | Buffer[], source_path: string, source_format: DiscoveredCertificateInput['source_format']): DiscoveredCertificateInput {
  const pems = chain.map((c) => (Buffer.isBuffer(c) ? certificateDerToPem(c) : c));
  const leafPem = pems[0]!;
  const cert = new x509.X509Certificate(leafPem.trim());
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const key = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  const details = key.asymmetricKeyDetails ?? {};
  const algorithms: Record<string, string> = { rsa: 'RSA', 'rsa-pss': 'RSA', ec: 'ECDSA', ed25519: 'Ed25519', ed448: 'Ed448' };
  const algorithm = algorithms[key.asymmetricKeyType ?? ''] ?? (key.asymmetricKeyType ?? '').toUpperCase();
  const curveBits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };
  const size = details.modulusLength ?? curveBits[details.namedCurve ?? ''] ?? (algorithm === 'Ed25519' ? 256 : 0);
  return {
    fingerprint_sha256: fingerprintSha256(leafPem),
    common_name: cert.subjectName.getField('CN')[0] ?? '',
    sans: san ? fromGeneralNames(san.names) : [],
    serial_number: cert.serialNumber.toLowerCase(),
    issuer_dn: cert.issuer,
    subject_dn: cert.subject,
    not_before: cert.notBefore,
    not_after: cert.notAfter,
    key_algorithm: algorithm,
    key_size: size,
    is_ca: basic?.ca ?? false,
    pem_data: leafPem.endsWith('\n') ? leafPem : `${leafPem}\n`,
    pem_chain: pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''),
    chain_length: pems.length,
    source_path,
    source_format,
  };
}

/** The certificates of a PEM bundle, leaf first. */
export function pemBlocks(bundle: string): string[] {
  return splitPemChain(bundle);
}
