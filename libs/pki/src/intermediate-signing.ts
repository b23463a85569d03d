import { createCaCertificate, SigningAuthority } from './certificate';
import { x509 } from './crypto-provider';
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, KeySpec } from './keys';
import { encryptSecret } from './secret-box';

/** P-256: as strong as the leaves it signs, and its signatures cost a quarter of P-384's. */
export const INTERMEDIATE_KEY_SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

/** Everything needed to make and sign an intermediate CA, as plain data (it crosses into a worker thread). */
export interface IntermediateSigningInput {
  parentCertificatePem: string;
  parentKeyPem: string;
  commonName: string;
  validityDays: number;
  pathLength?: number;
  nameConstraints?: { permittedDnsDomains?: string[]; excludedDnsDomains?: string[] };
  /** Encrypts the new CA's key at rest (CERTCTL_CONFIG_ENCRYPTION_KEY). */
  encryptionKey: string;
}

export interface SignedIntermediate {
  certificatePem: string;
  encryptedPrivateKey: Buffer;
}

export type IntermediateSigner = (input: IntermediateSigningInput) => Promise<SignedIntermediate>;

/** Generates the intermediate's key and has the parent sign its certificate (never outliving the parent). */
export async function signIntermediateCa(input: IntermediateSigningInput): Promise<SignedIntermediate> {
  const { keys: parentKeys, spec } = await importPrivateKeyPem(input.parentKeyPem);
  const parent: SigningAuthority = { certificate: new x509.X509Certificate(input.parentCertificatePem), privateKey: parentKeys.privateKey, keySpec: spec };
  const keys = await generateKeyPair(INTERMEDIATE_KEY_SPEC);
  const certificatePem = await createCaCertificate({
    keys, keySpec: INTERMEDIATE_KEY_SPEC, commonName: input.commonName, validityDays: input.validityDays, parent, pathLength: input.pathLength,
    nameConstraints: input.nameConstraints, notAfter: parent.certificate.notAfter,
  });
  return { certificatePem, encryptedPrivateKey: encryptSecret(await exportPrivateKeyPem(keys.privateKey), input.encryptionKey) };
}
