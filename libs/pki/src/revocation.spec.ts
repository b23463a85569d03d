import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1 from '@peculiar/asn1-x509';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildCrl, buildOcspResponse, crlShardOf, certIdFor, certIdNamesIssuer, certificatePemToDer, createCaCertificate, crlToPem, encodeSingleResponse,
  generateKeyPair, issueLeafCertificate, issuerIdentityOf, KeySpec, ocspErrorResponse, ocspResponseStatus, parseOcspRequest, PkiError,
  responderKeyHash, x509,
} from './index';
import { unsignedInteger } from './der';

const SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

async function fixture() {
  const keys = await generateKeyPair(SPEC);
  const caPem = await createCaCertificate({ keys, keySpec: SPEC, commonName: 'Revocation Test CA', validityDays: 365 });
  const ca = { certificate: new x509.X509Certificate(caPem), privateKey: keys.privateKey, keySpec: SPEC };
  const caKey = KeyObject.from(keys.privateKey);
  const leaf = (name: string) => issueLeafCertificate(ca, {
    publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, commonName: name, sans: [name],
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), ekus: ['serverAuth'],
    crlDistributionPoints: ['http://127.0.0.1/crl'], ocspUrls: ['http://127.0.0.1/ocsp'],
  });
  const responderKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const responder = issueLeafCertificate(ca, {
    publicKey: responderKeys.publicKey, commonName: 'OCSP responder', sans: [], notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000), ekus: ['OCSPSigning'], ocspNoCheck: true,
  });
  const issuer = issuerIdentityOf(certificatePemToDer(caPem));
  const responderBits = issuerIdentityOf(responder.der).publicKeyBits;
  return {
    caPem, caKey, issuer, leaf,
    responder: { certificateDer: responder.der, pem: responder.pem, keyHash: responderKeyHash(responderBits), signer: { key: responderKeys.privateKey, spec: SPEC } },
  };
}

function dirWith(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'revocation-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

function openssl(dir: string, args: string[]): { status: number | null; out: string } {
  const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe('CRL (libs/pki buildCrl)', () => {
  it('is a v2 CRL openssl verifies against the CA, with the CRL number, reasons, and a revoked leaf rejected by verify -crl_check', async () => {
    const f = await fixture();
    const revoked = f.leaf('revoked.example.com');
    const good = f.leaf('good.example.com');
    const crl = buildCrl({
      issuer: f.issuer, signer: { key: f.caKey, spec: SPEC }, crlNumber: 42, thisUpdate: new Date(Date.now() - 1000), nextUpdate: new Date(Date.now() + 3_600_000),
      revoked: [{ serialNumber: revoked.serialNumber, revokedAt: new Date(), reason: 'keyCompromise' }, { serialNumber: '0abc', revokedAt: new Date(), reason: 'unspecified' }],
    });
    const dir = dirWith({ 'ca.pem': f.caPem, 'crl.der': crl, 'crl.pem': crlToPem(crl), 'revoked.pem': revoked.pem, 'good.pem': good.pem });
    const check = openssl(dir, ['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout', '-text']);
    expect(check.out).toContain('verify OK');
    expect(check.out).toMatch(/X509v3 CRL Number:\s*\n\s*42/);
    expect(check.out).toContain(`Serial Number: ${revoked.serialNumber.toUpperCase()}`);
    expect(check.out).toContain('Key Compromise');
    expect(check.out).toMatch(/Serial Number: 0ABC/);

    const rejected = openssl(dir, ['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', 'revoked.pem']);
    expect(rejected.status).not.toBe(0);
    expect(rejected.out).toContain('certificate revoked');
    const accepted = openssl(dir, ['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', 'good.pem']);
    expect(accepted.out).toContain('good.pem: OK');
  });

  it('an empty CRL is still valid; a CRL of 100,000 entries builds in well under 3 s', async () => {
    const f = await fixture();
    const empty = buildCrl({ issuer: f.issuer, signer: { key: f.caKey, spec: SPEC }, crlNumber: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 60_000), revoked: [] });
    expect(openssl(dirWith({ 'ca.pem': f.caPem, 'crl.der': empty }), ['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout']).out).toContain('verify OK');
    const revoked = Array.from({ length: 100_000 }, (_, i) => ({ serialNumber: (0x10000000 + i).toString(16), revokedAt: new Date(), reason: 'superseded' as const }));
    const started = performance.now();
    const big = buildCrl({ issuer: f.issuer, signer: { key: f.caKey, spec: SPEC }, crlNumber: 2, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 60_000), revoked });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(openssl(dirWith({ 'ca.pem': f.caPem, 'crl.der': big }), ['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout']).out).toContain('verify OK');
  });

  it('encodes every serial as the INTEGER openssl reads back (odd digits, leading zeros, top bit set, zero, upper case) with times on both sides of 2050; a non-hex serial is refused', async () => {
    const f = await fixture();
    const serials = ['1', 'abc', '0abc', '000abc', '80', '0080', 'ff', '00', '0', '7f', 'FEDCBA9876543210', '01'.repeat(20)];
    const revoked = serials.map((serialNumber, i) => ({ serialNumber, revokedAt: new Date(i % 2 ? '2049-12-31T23:59:59Z' : '2050-01-01T00:00:07Z'), reason: 'keyCompromise' as const }));
    const crl = buildCrl({ issuer: f.issuer, signer: { key: f.caKey, spec: SPEC }, crlNumber: 3, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 60_000), revoked });
    const parsed = AsnConvert.parse(crl, asn1.CertificateList).tbsCertList.revokedCertificates!;
    expect(parsed.map((e) => Buffer.from(e.userCertificate).toString('hex'))).toEqual(serials.map((s) => unsignedInteger(Buffer.from(s.length % 2 ? `0${s}` : s, 'hex')).subarray(2).toString('hex')));
    expect(parsed.map((e) => e.revocationDate.getTime().toISOString())).toEqual(revoked.map((r) => r.revokedAt.toISOString()));
    const text = openssl(dirWith({ 'ca.pem': f.caPem, 'crl.der': crl }), ['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout', '-text']).out;
    expect(text).toContain('verify OK');
    expect(text).toContain('Serial Number: FEDCBA9876543210');
    expect(text).toContain('Dec 31 23:59:59 2049 GMT');
    expect(text).toContain('Jan  1 00:00:07 2050 GMT');
    for (const bad of ['xyz', '', '12 3']) {
      expect(() => buildCrl({ issuer: f.issuer, signer: { key: f.caKey, spec: SPEC }, crlNumber: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 60_000), revoked: [{ serialNumber: bad, revokedAt: new Date(), reason: 'unspecified' }] })).toThrow(PkiError);
    }
  });

  it('a shard CRL carries a critical Issuing Distribution Point naming its URL; crlShardOf spreads serials over every shard', async () => {
    const f = await fixture();
    const url = 'http://127.0.0.1/.well-known/pki/crl/iss-1/3';
    const crl = buildCrl({ issuer: f.issuer, signer: { key: f.caKey, spec: SPEC }, crlNumber: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 60_000), revoked: [], distributionPoint: url });
    const idp = AsnConvert.parse(crl, asn1.CertificateList).tbsCertList.crlExtensions!.find((e) => e.extnID === '2.5.29.28')!;
    expect(idp.critical).toBe(true);
    const value = AsnConvert.parse(idp.extnValue.buffer, asn1.IssuingDistributionPoint);
    expect(value.distributionPoint?.fullName?.map((n) => n.uniformResourceIdentifier)).toEqual([url]);
    expect(crlShardOf('ff00000005', 4)).toBe(1);
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 1600; i++) counts[crlShardOf(randomBytes(16).toString('hex'), 16)]++;
    expect(Math.min(...counts)).toBeGreaterThan(40);
    expect(() => crlShardOf('01', 0)).toThrow(PkiError);
  });

  it('refuses a nextUpdate that is not after thisUpdate', async () => {
    const f = await fixture();
    const now = new Date();
    expect(() => buildCrl({ issuer: f.issuer, signer: { key: f.caKey, spec: SPEC }, crlNumber: 1, thisUpdate: now, nextUpdate: now, revoked: [] })).toThrow(PkiError);
  });
});

describe('OCSP (libs/pki parseOcspRequest / buildOcspResponse)', () => {
  it('parses the request openssl sends (CertID and nonce) and openssl accepts the signed answer: good, revoked with reason, unknown', async () => {
    const f = await fixture();
    const leaf = f.leaf('ocsp.example.com');
    const dir = dirWith({ 'ca.pem': f.caPem, 'leaf.pem': leaf.pem });
    execFileSync('openssl', ['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-reqout', 'req.der', '-nonce'], { cwd: dir });
    const { readFileSync } = await import('node:fs');
    const request = parseOcspRequest(readFileSync(join(dir, 'req.der')));
    expect(request.certIds).toHaveLength(1);
    expect(request.certIds[0]!.serialNumber).toBe(leaf.serialNumber);
    expect(certIdNamesIssuer(request.certIds[0]!, f.issuer)).toBe(true);
    expect(request.nonce).toBeDefined();
    expect(request.nonceProblem).toBeUndefined();

    const now = new Date();
    const answer = (certStatus: Parameters<typeof encodeSingleResponse>[0]['certStatus']) => buildOcspResponse({
      responder: f.responder, producedAt: now, nonce: request.nonce,
      singleResponses: [encodeSingleResponse({ certIdDer: request.certIds[0]!.der, certStatus, thisUpdate: now, nextUpdate: new Date(now.getTime() + 3_600_000) })],
    });
    // Two looks, as openssl gives them: against the request sent (signature and nonce), and per certificate (status).
    const check = (der: Buffer) => {
      writeFileSync(join(dir, 'resp.der'), der);
      const againstRequest = openssl(dir, ['ocsp', '-respin', 'resp.der', '-reqin', 'req.der', '-CAfile', 'ca.pem']).out;
      const status = openssl(dir, ['ocsp', '-respin', 'resp.der', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-CAfile', 'ca.pem', '-no_nonce']).out;
      return `${againstRequest}\n${status}`;
    };
    const good = check(answer({ status: 'good' }));
    expect(good).toContain('Response verify OK');
    expect(good).toContain('leaf.pem: good');
    expect(good).not.toMatch(/no nonce|Nonce Verify error/i);
    const revoked = check(answer({ status: 'revoked', revokedAt: new Date(now.getTime() - 5000), reason: 'keyCompromise' }));
    expect(revoked).toContain('leaf.pem: revoked');
    expect(revoked).toContain('Reason: keyCompromise');
    expect(check(answer({ status: 'unknown' }))).toContain('leaf.pem: unknown');
    // Without the nonce echoed, openssl notices.
    const unechoed = buildOcspResponse({ responder: f.responder, producedAt: now, singleResponses: [encodeSingleResponse({ certIdDer: request.certIds[0]!.der, certStatus: { status: 'good' }, thisUpdate: now, nextUpdate: new Date(now.getTime() + 60_000) })] });
    expect(check(unechoed)).toMatch(/no nonce|Nonce Verify error/i);
  });

  it('certIdFor builds the CertID openssl builds for a serial; a CertID of another CA does not name this issuer', async () => {
    const f = await fixture();
    const other = await fixture();
    const leaf = f.leaf('a.example.com');
    const dir = dirWith({ 'ca.pem': f.caPem, 'leaf.pem': leaf.pem });
    execFileSync('openssl', ['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-reqout', 'req.der', '-no_nonce'], { cwd: dir });
    const { readFileSync } = await import('node:fs');
    const parsed = parseOcspRequest(readFileSync(join(dir, 'req.der')));
    expect(certIdFor(f.issuer, leaf.serialNumber).der.equals(parsed.certIds[0]!.der)).toBe(true);
    expect(parsed.nonce).toBeUndefined();
    expect(certIdNamesIssuer(parsed.certIds[0]!, other.issuer)).toBe(false);
  });

  it('rejects garbage, truncated and trailing-byte requests as MALFORMED; flags empty and 100-byte nonces', async () => {
    const f = await fixture();
    const good = Buffer.concat([certIdFor(f.issuer, '01').der]);
    const request = (extensions?: Buffer) => {
      const seq = (b: Buffer) => Buffer.concat([Buffer.from([0x30]), len(b.length), b]);
      const tbs = seq(Buffer.concat([seq(seq(good)), ...(extensions ? [Buffer.concat([Buffer.from([0xa2]), len(extensions.length), extensions])] : [])]));
      return seq(tbs);
    };
    const nonceExt = (nonce: Buffer) => {
      const inner = Buffer.concat([Buffer.from([0x04]), len(nonce.length), nonce]);
      const value = Buffer.concat([Buffer.from([0x04]), len(inner.length), inner]);
      const oidBytes = Buffer.from('06092b0601050507300102', 'hex');
      const ext = Buffer.concat([oidBytes, value]);
      const extSeq = Buffer.concat([Buffer.from([0x30]), len(ext.length), ext]);
      return Buffer.concat([Buffer.from([0x30]), len(extSeq.length), extSeq]);
    };
    expect(parseOcspRequest(request()).certIds[0]!.serialNumber).toBe('01');
    for (const bad of [Buffer.from('not der at all'), request().subarray(0, 20), Buffer.concat([request(), Buffer.from([0])]), Buffer.alloc(0)]) {
      expect(() => parseOcspRequest(bad)).toThrow(PkiError);
    }
    expect(parseOcspRequest(request(nonceExt(Buffer.alloc(0)))).nonceProblem).toMatch(/empty/);
    expect(parseOcspRequest(request(nonceExt(Buffer.alloc(100, 1)))).nonceProblem).toMatch(/longer than 32/);
    expect(parseOcspRequest(request(nonceExt(Buffer.alloc(16, 1)))).nonceProblem).toBeUndefined();
    expect(ocspResponseStatus(ocspErrorResponse('unauthorized'))).toBe(6);
    expect(ocspResponseStatus(ocspErrorResponse('malformedRequest'))).toBe(1);
  });
});

function len(n: number): Buffer {
  return n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]);
}
