import { createCaCertificate, exportPrivateKeyPem, generateKeyPair, KeySpec, signLeafCertificate, SigningAuthority, x509 } from '@certctl/pki';
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
