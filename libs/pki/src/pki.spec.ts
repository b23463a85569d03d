import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createCaCertificate, createCsr, decryptSecret, describeCertificate, encryptSecret, exportPrivateKeyPem, fingerprintSha256,
  generateKeyObjects, generateKeyPair, importPrivateKeyPem, issueLeafCertificate, KeySpec, SigningAuthority, namesMismatch, parseCsr, PkiError, randomSerial, signLeafCertificate,
  splitPemChain, verifyChain, x509,
} from './index';

const SPECS: KeySpec[] = [
  { algorithm: 'ECDSA', curve: 'P-256' }, { algorithm: 'ECDSA', curve: 'P-384' },
  { algorithm: 'RSA', bits: 2048 }, { algorithm: 'RSA', bits: 3072 }, { algorithm: 'RSA', bits: 4096 },
];

interface TestAuthority extends SigningAuthority { pem: string }

async function authority(spec: KeySpec = SPECS[0]!, parent?: TestAuthority): Promise<TestAuthority> {
  const keys = await generateKeyPair(spec);
  const pem = await createCaCertificate({ keys, keySpec: spec, commonName: parent ? 'Test Intermediate' : 'Test Root', validityDays: 3650, parent, pathLength: parent ? 0 : 1 });
  return { certificate: new x509.X509Certificate(pem), privateKey: keys.privateKey, keySpec: spec, pem };
}

function openssl(args: string[], files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'pki-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8' });
}

describe('libs/pki', () => {
  it.each(SPECS)('generates %o keys, exports and re-imports them, and signs a CSR with them', async (spec) => {
    const keys = await generateKeyPair(spec);
    const pem = await exportPrivateKeyPem(keys.privateKey);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const imported = await importPrivateKeyPem(pem);
    expect(imported.spec).toEqual(spec);
    const csr = await parseCsr(await createCsr({ keys: imported.keys, keySpec: spec, commonName: 'a.example.com', sans: ['a.example.com'] }));
    expect(csr.keySpec).toEqual(spec);
  }, 60_000);

  it('parses a CSR with DNS, IP, email and URI names and checks its signature', async () => {
    const keys = await generateKeyPair();
    const pem = await createCsr({ keys, keySpec: SPECS[0]!, commonName: 'svc.example.com', sans: ['svc.example.com', '10.0.0.1', 'ops@example.com', 'spiffe://example.com/svc'] });
    const csr = await parseCsr(pem);
    expect(csr.commonName).toBe('svc.example.com');
    expect(csr.sans).toEqual(['svc.example.com', '10.0.0.1', 'ops@example.com', 'spiffe://example.com/svc']);
    // openssl agrees the request is well formed and self-signed
    expect(openssl(['req', '-in', 'r.pem', '-noout', '-verify'], { 'r.pem': pem })).toBe('');
  });

  it('rejects malformed and tampered CSRs with typed errors', async () => {
    await expect(parseCsr('not a csr')).rejects.toMatchObject({ code: 'MALFORMED' });
    const keys = await generateKeyPair();
    const other = await generateKeyPair();
    const good = new x509.Pkcs10CertificateRequest(await createCsr({ keys, keySpec: SPECS[0]!, commonName: 'a.example.com', sans: [] }));
    // same content, signature from another key
    const forged = await x509.Pkcs10CertificateRequestGenerator.create({ name: good.subject, keys: { privateKey: other.privateKey, publicKey: keys.publicKey }, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams });
    await expect(parseCsr(forged.toString('pem'))).rejects.toBeInstanceOf(PkiError);
    await expect(parseCsr(forged.toString('pem'))).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it('compares CSR names with the certificate\'s, case-insensitively', () => {
    const cert = { commonName: 'a.example.com', sans: ['a.example.com', 'b.example.com'] };
    expect(namesMismatch({ commonName: 'A.example.com', sans: ['b.example.com'] }, cert)).toBeUndefined();
    expect(namesMismatch({ commonName: 'a.example.com', sans: ['a.example.com', 'evil.example.com'] }, cert)).toMatch(/evil/);
    expect(namesMismatch({ commonName: 'a.example.com', sans: [] }, cert)).toMatch(/lacks.*b.example.com/);
    expect(namesMismatch({ commonName: 'x.example.com', sans: ['a.example.com', 'b.example.com'] }, cert)).toMatch(/common name/);
  });

  it('issues a leaf through root → intermediate that openssl verifies, with the right extensions', async () => {
    const root = await authority();
    const intermediate = await authority({ algorithm: 'RSA', bits: 2048 }, root);
    const leafKeys = await generateKeyPair();
    const notBefore = new Date(Date.now() - 1000);
    const leafPem = await signLeafCertificate(intermediate, {
      publicKey: leafKeys.publicKey, commonName: 'svc.example.com', sans: ['svc.example.com', '127.0.0.1'], notBefore,
      notAfter: new Date(notBefore.getTime() + 90 * 86_400_000), ekus: ['serverAuth', 'clientAuth'],
      crlDistributionPoints: ['http://ca.example.com/crl/iss-local'],
    });
    const chain = await verifyChain(leafPem, [intermediate.pem], [root.pem]);
    expect(chain).toHaveLength(3);
    const text = openssl(['x509', '-in', 'leaf.pem', '-noout', '-text'], { 'leaf.pem': leafPem });
    expect(text).toContain('DNS:svc.example.com, IP Address:127.0.0.1');
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(text).toContain('CA:FALSE');
    expect(text).toContain('http://ca.example.com/crl/iss-local');
    expect(text).toMatch(/Authority Key Identifier/);
    expect(text).toMatch(/Subject Key Identifier/);
    const verified = openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'int.pem', '-purpose', 'sslserver', 'leaf.pem'],
      { 'root.pem': root.pem, 'int.pem': intermediate.pem, 'leaf.pem': leafPem });
    expect(verified.trim()).toBe('leaf.pem: OK');

    const info = describeCertificate(leafPem);
    expect(info).toMatchObject({ commonName: 'svc.example.com', sans: ['svc.example.com', '127.0.0.1'], keyAlgorithm: 'ECDSA', keySize: 256, isCa: false });
    const opensslFingerprint = openssl(['x509', '-in', 'leaf.pem', '-noout', '-fingerprint', '-sha256'], { 'leaf.pem': leafPem });
    expect(opensslFingerprint.split('=')[1]!.trim().replace(/:/g, '').toLowerCase()).toBe(fingerprintSha256(leafPem));
    expect(splitPemChain(leafPem + intermediate.pem + root.pem)).toHaveLength(3);
  });

  it.each([
    { name: 'P-256 leaf, P-256 CA', leaf: SPECS[0]!, ca: SPECS[0]! }, { name: 'P-384 leaf, RSA CA', leaf: SPECS[1]!, ca: SPECS[2]! },
    { name: 'RSA leaf, P-384 CA', leaf: SPECS[2]!, ca: SPECS[1]! },
  ])('issues a leaf for a KeyObject key ($name) that openssl verifies, and reports what it signed', async ({ leaf: spec, ca: caSpec }) => {
    const ca = await authority(caSpec);
    const keys = await generateKeyObjects(spec);
    const issued = issueLeafCertificate(ca, {
      publicKey: keys.publicKey, commonName: 'k.example.com', sans: ['k.example.com', '10.1.2.3'], notBefore: new Date(Date.now() - 1_000),
      notAfter: new Date(Date.now() + 86_400_000), ekus: ['serverAuth'], crlDistributionPoints: ['http://crl.example/ca.crl'], mustStaple: true,
    });
    expect(openssl(['verify', '-CAfile', 'ca.pem', '-purpose', 'sslserver', 'leaf.pem'], { 'ca.pem': ca.pem, 'leaf.pem': issued.pem }).trim()).toBe('leaf.pem: OK');
    const text = openssl(['x509', '-in', 'leaf.pem', '-noout', '-text'], { 'leaf.pem': issued.pem });
    expect(text).toContain('DNS:k.example.com, IP Address:10.1.2.3');
    expect(text).toContain('URI:http://crl.example/ca.crl');
    expect(text).toMatch(/TLS Feature:\s+status_request/);
    expect(text).toMatch(spec.algorithm === 'RSA' ? /Digital Signature, Key Encipherment/ : /Key Usage: critical\s+Digital Signature\n/);
    // The certificate carries exactly this key, and the fields returned are the ones in the certificate.
    const native = new X509Certificate(issued.pem);
    expect(native.publicKey.export({ type: 'spki', format: 'der' })).toEqual(keys.publicKey.export({ type: 'spki', format: 'der' }));
    const described = describeCertificate(issued.pem);
    expect(issued).toMatchObject({ serialNumber: described.serialNumber, notBefore: described.notBefore, notAfter: described.notAfter, fingerprintSha256: described.fingerprintSha256 });
    expect(fingerprintSha256(issued.pem)).toBe(issued.fingerprintSha256);
    // RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits, as openssl computes it.
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(text)![1]!.replace(/:/g, '').toLowerCase();
    expect(ski).toBe(new x509.X509Certificate(issued.pem).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    expect(ski).toBe(Buffer.from(await new x509.PublicKey(keys.publicKey.export({ type: 'spki', format: 'der' })).getKeyIdentifier()).toString('hex'));
  }, 60_000);

  it('refuses a chain that does not reach a trusted root or is signed by someone else', async () => {
    const root = await authority();
    const stranger = await authority();
    const leafKeys = await generateKeyPair();
    const leafPem = await signLeafCertificate(root, { publicKey: leafKeys.publicKey, commonName: 'x.example.com', sans: [], notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000), ekus: ['serverAuth'] });
    await expect(verifyChain(leafPem, [], [stranger.pem])).rejects.toMatchObject({ code: 'CHAIN' });
    await expect(verifyChain(leafPem, [], [root.pem], new Date(Date.now() + 2 * 86_400_000))).rejects.toThrow(/validity/);
  });

  it('makes random positive 128-bit serials', () => {
    const serials = Array.from({ length: 1000 }, randomSerial);
    expect(new Set(serials).size).toBe(1000);
    for (const s of serials) {
      expect(s).toMatch(/^[0-9a-f]{32}$/);
      expect(parseInt(s.slice(0, 2), 16) & 0x80).toBe(0);
    }
  });

  it('encrypts secrets with AES-256-GCM and detects tampering or a wrong key', () => {
    const key = 'k'.repeat(32);
    const box = encryptSecret('-----BEGIN PRIVATE KEY-----', key);
    expect(box.toString('latin1')).not.toContain('PRIVATE KEY');
    expect(decryptSecret(box, key).toString()).toBe('-----BEGIN PRIVATE KEY-----');
    expect(() => decryptSecret(box, 'x'.repeat(32))).toThrow();
    const tampered = Buffer.from(box);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => decryptSecret(tampered, key)).toThrow();
  });
});
