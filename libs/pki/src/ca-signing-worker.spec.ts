import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CaSigningWorker } from './ca-signing-worker';
import { createCaCertificate } from './certificate';
import { exportPrivateKeyPem, generateKeyPair } from './keys';
import { INTERMEDIATE_KEY_SPEC } from './intermediate-signing';
import { decryptSecret } from './secret-box';

const SECRET = 'a-test-encryption-key-of-32-bytes!!';

/** CaSigningWorker makes intermediate CAs in its own thread: signed by the parent, key encrypted, requests answered in turn. */
describe('CaSigningWorker', () => {
  const worker = new CaSigningWorker();
  afterAll(() => worker.close());

  it('returns intermediates signed by the parent, with their keys encrypted, for concurrent requests', async () => {
    const rootKeys = await generateKeyPair(INTERMEDIATE_KEY_SPEC);
    const rootPem = await createCaCertificate({ keys: rootKeys, keySpec: INTERMEDIATE_KEY_SPEC, commonName: 'Test Root', validityDays: 30 });
    const input = { parentCertificatePem: rootPem, parentKeyPem: await exportPrivateKeyPem(rootKeys.privateKey), validityDays: 10, pathLength: 0, encryptionKey: SECRET };
    const [a, b] = await Promise.all([worker.sign({ ...input, commonName: 'Sub A' }), worker.sign({ ...input, commonName: 'Sub B' })]);
    const root = new X509Certificate(rootPem);
    for (const [signed, cn] of [[a, 'Sub A'], [b, 'Sub B']] as const) {
      const cert = new X509Certificate(signed.certificatePem);
      expect(cert.subject).toBe(`CN=${cn}`);
      expect(cert.ca).toBe(true);
      expect(cert.checkIssued(root)).toBe(true);
      expect(cert.verify(root.publicKey)).toBe(true);
      expect(Buffer.isBuffer(signed.encryptedPrivateKey)).toBe(true);
      expect(decryptSecret(signed.encryptedPrivateKey, SECRET).toString('utf8')).toContain('BEGIN PRIVATE KEY');
    }
  });

  it('rejects a request whose parent key is unreadable, and keeps answering afterwards', async () => {
    const rootKeys = await generateKeyPair(INTERMEDIATE_KEY_SPEC);
    const rootPem = await createCaCertificate({ keys: rootKeys, keySpec: INTERMEDIATE_KEY_SPEC, commonName: 'Test Root 2', validityDays: 30 });
    const base = { parentCertificatePem: rootPem, commonName: 'Sub', validityDays: 10, encryptionKey: SECRET };
    await expect(worker.sign({ ...base, parentKeyPem: 'not a key' })).rejects.toThrow(/CA signing failed/);
    const ok = await worker.sign({ ...base, parentKeyPem: await exportPrivateKeyPem(rootKeys.privateKey) });
    expect(new X509Certificate(ok.certificatePem).checkIssued(new X509Certificate(rootPem))).toBe(true);
  });
});
