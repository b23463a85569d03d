import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCaCertificate, exportPrivateKeyPem, generateKeyPair, signLeafCertificate, x509 } from './index';
import { createPkcs12 } from './pkcs12';

const dir = mkdtempSync(join(tmpdir(), 'certctl-p12-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `openssl pkcs12` (a real, independent reader) on a bundle; the password travels in the environment. */
function opensslRead(bundle: Buffer, password: string, args: string[]): string {
  const file = join(dir, `b-${Math.random().toString(16).slice(2)}.p12`);
  writeFileSync(file, bundle);
  const run = spawnSync('openssl', ['pkcs12', '-in', file, '-passin', 'env:P12_PASSWORD', ...args], { env: { ...process.env, P12_PASSWORD: password }, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl pkcs12 failed: ${run.stderr}`);
  return run.stdout + run.stderr; // -info reports on stderr
}

describe('createPkcs12', () => {
  it('writes a bundle openssl opens with the password: the key, the leaf paired with it, and the chain', async () => {
    const caKeys = await generateKeyPair({ algorithm: 'ECDSA', curve: 'P-256' });
    const caPem = await createCaCertificate({ keys: caKeys, keySpec: { algorithm: 'ECDSA', curve: 'P-256' }, commonName: 'p12 test CA', validityDays: 1 });
    const keys = await generateKeyPair({ algorithm: 'ECDSA', curve: 'P-256' });
    const leafPem = await signLeafCertificate(
      { certificate: new x509.X509Certificate(caPem), privateKey: caKeys.privateKey, keySpec: { algorithm: 'ECDSA', curve: 'P-256' } },
      { publicKey: keys.publicKey, commonName: 'p12.example.com', sans: ['p12.example.com'], notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000), ekus: ['serverAuth'] },
    );
    const keyPem = await exportPrivateKeyPem(keys.privateKey);
    const bundle = await createPkcs12(keyPem, [leafPem, caPem], 'correct horse');

    const info = opensslRead(bundle, 'correct horse', ['-info', '-noout']);
    expect(info).toMatch(/PBES2, PBKDF2, AES-256-CBC/);
    expect(info).toMatch(/MAC: sha256/);
    const certs = opensslRead(bundle, 'correct horse', ['-nokeys']);
    expect(certs.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(certs).toContain('subject=CN = p12.example.com');
    const key = opensslRead(bundle, 'correct horse', ['-nocerts', '-nodes']);
    const keyFile = join(dir, 'k.pem');
    writeFileSync(keyFile, key);
    const publicFromKey = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout'], { encoding: 'utf8' });
    const leafFile = join(dir, 'leaf.pem');
    writeFileSync(leafFile, leafPem);
    expect(execFileSync('openssl', ['x509', '-in', leafFile, '-pubkey', '-noout'], { encoding: 'utf8' })).toBe(publicFromKey);

    expect(() => opensslRead(bundle, 'wrong password', ['-info', '-noout'])).toThrow();
  });
});
