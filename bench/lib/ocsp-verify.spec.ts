import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildOcspResponse, certIdFor, certificatePemToDer, createCaCertificate, encodeSingleResponse, generateKeyPair, issueLeafCertificate,
  issuerIdentityOf, KeySpec, parseOcspRequest, responderKeyHash, x509,
} from '@certctl/pki';
import { ocspRequest } from './ocsp-request';
import { verifyOcspAnswers } from './ocsp-verify';

const SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

/** A CA and a delegated responder (real keys, real certificates), and a directory holding the CA as ca.pem. */
async function fixture(name: string) {
  const keys = await generateKeyPair(SPEC);
  const caPem = await createCaCertificate({ keys, keySpec: SPEC, commonName: name, validityDays: 30 });
  const ca = { certificate: new x509.X509Certificate(caPem), privateKey: keys.privateKey, keySpec: SPEC };
  const responderKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const responder = issueLeafCertificate(ca, {
    publicKey: responderKeys.publicKey, commonName: `${name} responder`, sans: [], notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000), ekus: ['OCSPSigning'], ocspNoCheck: true,
  });
  const issuer = issuerIdentityOf(certificatePemToDer(caPem));
  const signer = {
    certificateDer: responder.der, keyHash: responderKeyHash(issuerIdentityOf(responder.der).publicKeyBits), signer: { key: responderKeys.privateKey, spec: SPEC },
  };
  return { caPem, issuer, signer };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

function answer(f: Fixture, serial: string, status: 'good' | 'unknown', nonce?: Buffer): string {
  const now = new Date();
  return buildOcspResponse({
    responder: f.signer, producedAt: now, ...(nonce ? { nonce } : {}),
    singleResponses: [encodeSingleResponse({ certIdDer: certIdFor(f.issuer, serial).der, certStatus: { status }, thisUpdate: now, nextUpdate: new Date(now.getTime() + 3_600_000) })],
  }).toString('base64');
}

describe('verifyOcspAnswers (bench:ocsp answers checked by openssl ocsp -respin)', () => {
  it('accepts a good answer for the serial asked, signed by the CA\'s responder, and a POST answer echoing its nonce', async () => {
    const f = await fixture('Bench verify CA');
    const dir = mkdtempSync(join(tmpdir(), 'ocsp-verify-'));
    writeFileSync(join(dir, 'ca.pem'), f.caPem);
    const request = ocspRequest(certIdFor(f.issuer, '7abc').der, true);
    const nonce = parseOcspRequest(request).nonce!;
    const result = await verifyOcspAnswers(dir, 'ca.pem', [
      { request: 0, body: answer(f, '7abc', 'good') },
      { request: 0, body: answer(f, '7abc', 'good', nonce), sent: request.toString('base64') },
    ], () => '7abc');
    expect(result).toEqual({ verified: 2 });
  });

  it('refuses another serial, a status other than good, another CA\'s signature, and a nonce not echoed', async () => {
    const f = await fixture('Bench verify CA');
    const other = await fixture('Another CA');
    const dir = mkdtempSync(join(tmpdir(), 'ocsp-verify-'));
    writeFileSync(join(dir, 'ca.pem'), f.caPem);
    const request = ocspRequest(certIdFor(f.issuer, '7abc').der, true);
    for (const sample of [
      { request: 0, body: answer(f, '7abd', 'good') },
      { request: 0, body: answer(f, '7abc', 'unknown') },
      { request: 0, body: answer({ ...other, issuer: f.issuer }, '7abc', 'good') },
      { request: 0, body: answer(f, '7abc', 'good'), sent: request.toString('base64') },
    ]) {
      const result = await verifyOcspAnswers(dir, 'ca.pem', [sample], () => '7abc');
      expect(result.verified).toBe(0);
      expect(result.problem).toContain('0x7ABC');
    }
  });
});
