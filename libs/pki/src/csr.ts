import { createPublicKey } from 'node:crypto';
import { x509 } from './crypto-provider';
import { PkiError } from './errors';
import { buildCsr, keyObjectOf, spkiDerOf } from './der-builder';
import { KeyObjectPair, KeySpec, keySpecOf } from './keys';
import { normalizeName, sanTypeOf } from './names';

const SAN_OID = '2.5.29.17';

export interface ParsedCsr {
  pem: string;
  commonName: string;
  /** SANs in certctl's flat form (DNS names, IPs, emails, URIs). */
  sans: string[];
  keySpec: KeySpec;
  publicKey: x509.PublicKey;
}

/** Creates a PEM CSR for the names, signed with the key pair. */
export async function createCsr(params: { keys: CryptoKeyPair | KeyObjectPair; keySpec: KeySpec; commonName: string; sans: string[] }): Promise<string> {
  return buildCsr({
    privateKey: keyObjectOf(params.keys.privateKey),
    publicKeyDer: spkiDerOf(params.keys.publicKey),
    keySpec: params.keySpec,
    commonName: params.commonName,
    sans: params.sans,
  });
}

/** Parses a PEM CSR and checks its self-signature; throws PkiError (MALFORMED / BAD_SIGNATURE / POLICY). */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem.trim());
  } catch {
    throw new PkiError('MALFORMED', 'csr_pem is not a PEM-encoded PKCS#10 certificate request');
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new PkiError('BAD_SIGNATURE', 'the CSR signature does not verify');
  const keySpec = keySpecOf(createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }));
  const sanExtension = csr.extensions.find((e) => e.type === SAN_OID);
  const san = sanExtension ? new x509.SubjectAlternativeNameExtension(sanExtension.rawData) : null;
  return {
    pem,
    commonName: csr.subjectName.getField('CN')[0] ?? '',
    sans: san ? fromGeneralNames(san.names) : [],
    keySpec,
    publicKey: csr.publicKey,
  };
}

export function toGeneralNames(names: string[]): x509.JsonGeneralNames {
  return names.map((value) => {
    switch (sanTypeOf(value)) {
      case 'ip': return { type: 'ip', value };
      case 'email': return { type: 'email', value };
      case 'url': return { type: 'url', value };
      default: return { type: 'dns', value };
    }
  });
}

export function fromGeneralNames(names: x509.GeneralNames): string[] {
  return names.items.filter((n) => ['dns', 'ip', 'email', 'url'].includes(n.type)).map((n) => n.value);
}

/**
 * The requested names must be exactly the certificate's: its common name and its SANs (the CN counts as a
 * SAN when the SAN list omits it). Returns the problem, or undefined.
 */
export function namesMismatch(csr: Pick<ParsedCsr, 'commonName' | 'sans'>, expected: { commonName: string; sans: string[] }): string | undefined {
  const want = new Set([expected.commonName, ...expected.sans].map(normalizeName));
  const got = new Set([csr.commonName, ...csr.sans].filter(Boolean).map(normalizeName));
  if (csr.commonName && normalizeName(csr.commonName) !== normalizeName(expected.commonName)) {
    return `CSR common name ${csr.commonName} differs from the certificate's ${expected.commonName}`;
  }
  const extra = [...got].filter((n) => !want.has(n));
  const missing = [...want].filter((n) => !got.has(n));
  if (extra.length) return `CSR names not on the certificate: ${extra.join(', ')}`;
  if (missing.length) return `CSR lacks the certificate's names: ${missing.join(', ')}`;
  return undefined;
}
