import {
  createCaCertificate, describeCertificate, encryptSecret, exportPrivateKeyPem, generateKeyPair, KeySpec, signLeafCertificate, SigningAuthority, x509,
} from '@certctl/pki';
import type { DeployMaterial } from '../connectors/types';

const P256: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

/** A throwaway CA that signs leaf certificates for deploy tests (not exported from the lib's index). */
export class TestCa {
  private constructor(private readonly authority: SigningAuthority, readonly pem: string) {}

  static async create(): Promise<TestCa> {
    const keys = await generateKeyPair(P256);
    const pem = await createCaCertificate({ keys, keySpec: P256, commonName: 'certctl deploy test CA', validityDays: 30 });
    return new TestCa({ certificate: new x509.X509Certificate(pem), privateKey: keys.privateKey, keySpec: P256 }, pem);
  }

  /** A new key and a leaf for `names` (the first is the CN), with this CA as the chain. */
  async issue(names: string[] = ['localhost', '127.0.0.1']): Promise<DeployMaterial> {
    const keys = await generateKeyPair(P256);
    const certPem = await signLeafCertificate(this.authority, {
      publicKey: keys.publicKey, commonName: names[0]!, sans: names, notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 7 * 86_400_000), ekus: ['serverAuth'],
    });
    return { certPem, chainPem: this.pem, keyPem: await exportPrivateKeyPem(keys.privateKey) };
  }
}

/**
 * Seeds, straight in SQL, what a deployment needs: an owner, an issuer, an Active certificate `mc-<name>` and its
 * version `v-<name>` holding `material` with the key encrypted as the issuance worker stores it. For tests and
 * benches that exercise the deploy worker without running issuance first.
 */
export async function seedIssuedCertificate(
  db: { query(sql: string, params?: unknown[]): Promise<unknown> }, name: string, material: DeployMaterial, encryptionKey: string,
): Promise<{ certificateId: string; versionId: string }> {
  const info = describeCertificate(material.certPem);
  const commonName = `${name}.example.com`;
  await db.query(`INSERT INTO owners (id, name, email) VALUES ($1, $2, $3)`, [`o-${name}`, name, `${name}@example.com`]);
  await db.query(`INSERT INTO issuers (id, name, type) VALUES ($1, $2, 'GenericCA')`, [`iss-${name}`, name]);
  await db.query(
    `INSERT INTO managed_certificates (id, name, common_name, owner_id, issuer_id, renewal_policy_id, status)
     VALUES ($1, $2, $3, $4, $5, 'rp-default', 'Active')`, [`mc-${name}`, name, commonName, `o-${name}`, `iss-${name}`],
  );
  await db.query(
    `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, encrypted_private_key)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [`v-${name}`, `mc-${name}`, info.serialNumber, info.notBefore, info.notAfter, info.fingerprintSha256, material.certPem + material.chainPem,
      encryptSecret(material.keyPem!, encryptionKey)],
  );
  return { certificateId: `mc-${name}`, versionId: `v-${name}` };
}
