import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUTBOUND_POLICY, setOutboundPolicy } from '@certctl/config';
import { generateKeyPair, x509 } from '@certctl/pki';
import { IssuerError } from '../issuer-connector';
import { issuerConfigProblem } from '../issuer-config';
import { ariCertId, parseRenewalInfo, serialOctets } from './acme-ari';
import type { AcmeChallengeStore } from './acme-challenge-store';
import { isChallengeToken } from './acme-challenge-store';
import { dnsHookEnvironment, runDnsHook } from './acme-dns-hooks';
import { classifyAcmeFailure } from './acme-errors';
import { AcmeHttpResponder } from './acme-http-responder';
import { AcmeConnector, AcmeDeps, identifiersOf } from './acme.connector';

/** A certificate with the authority key identifier and serial of RFC 9773's example (§4.1). */
async function rfcExampleCertificate(): Promise<string> {
  const keys = await generateKeyPair({ algorithm: 'ECDSA', curve: 'P-256' });
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0087654321',
    name: 'CN=ari example',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.AuthorityKeyIdentifierExtension('69885b6b87464041e1b37b847ba0ae2cde01c8d4')],
  });
  return cert.toString('pem');
}

// The stand-in CAs here listen on 127.0.0.1.
beforeAll(() => setOutboundPolicy({ ...DEFAULT_OUTBOUND_POLICY, allowLoopback: true }));
afterAll(() => setOutboundPolicy(DEFAULT_OUTBOUND_POLICY));

describe('ACME Renewal Information (RFC 9773)', () => {
  it('computes the certificate identifier of the RFC example', async () => {
    expect(ariCertId(await rfcExampleCertificate())).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('encodes serials as DER INTEGER content octets', () => {
    expect(serialOctets('87654321').toString('hex')).toBe('0087654321');
    expect(serialOctets('0087654321').toString('hex')).toBe('0087654321');
    expect(serialOctets('000123').toString('hex')).toBe('0123');
    expect(serialOctets('7f').toString('hex')).toBe('7f');
  });

  it('parses a suggested window and Retry-After; refuses a window that is missing or inverted', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(parseRenewalInfo({ suggestedWindow: { start: '2026-02-01T00:00:00Z', end: '2026-02-03T00:00:00Z' }, explanationURL: 'https://ca.example/why' }, '3600', now)).toEqual({
      start: new Date('2026-02-01T00:00:00Z'), end: new Date('2026-02-03T00:00:00Z'), explanationUrl: 'https://ca.example/why', retryAfter: new Date('2026-01-01T01:00:00Z'),
    });
    expect(() => parseRenewalInfo({}, undefined)).toThrow(/suggestedWindow/);
    expect(() => parseRenewalInfo({ suggestedWindow: { start: '2026-02-03T00:00:00Z', end: '2026-02-01T00:00:00Z' } }, undefined)).toThrow(/suggestedWindow/);
  });

  describe('renewalInfo() against a directory that offers it (a local HTTP stand-in: Debian\'s Pebble 2.4 has no ARI)', () => {
    let server: Server;
    let base: string;
    const asked: string[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        asked.push(req.url!);
        if (req.url === '/dir') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ newAccount: `${base}/acct`, newOrder: `${base}/order`, newNonce: `${base}/nonce`, renewalInfo: `${base}/ari/` }));
        if (req.url?.startsWith('/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')) {
          return void res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '21600' }).end(JSON.stringify({ suggestedWindow: { start: '2030-01-01T00:00:00Z', end: '2030-01-02T00:00:00Z' } }));
        }
        res.writeHead(404, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: 'unknown certificate' }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    const connector = (extra: Record<string, unknown> = {}) => new AcmeConnector('iss-ari', { directory_url: `${base}/dir`, ...extra }, {} as AcmeDeps);

    it('GETs <renewalInfo>/<certID> and returns the window', async () => {
      const info = await connector().renewalInfo(await rfcExampleCertificate());
      expect(info).toMatchObject({ start: new Date('2030-01-01T00:00:00Z'), end: new Date('2030-01-02T00:00:00Z') });
      expect(info!.retryAfter!.getTime()).toBeGreaterThan(Date.now() + 21_000_000);
      expect(asked).toContain('/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    });

    it('is null with ari_enabled=false, and a CA refusal is a permanent IssuerError with its detail', async () => {
      expect(await connector({ ari_enabled: false }).renewalInfo(await rfcExampleCertificate())).toBeNull();
      const keys = await generateKeyPair({ algorithm: 'ECDSA', curve: 'P-256' });
      const other = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: '01', name: 'CN=other', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [new x509.AuthorityKeyIdentifierExtension('0102030405')],
      });
      const err = await connector().renewalInfo(other.toString('pem')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IssuerError);
      expect(err).toMatchObject({ kind: 'permanent', message: 'ACME fetching renewal information: unknown certificate (malformed)' });
    });
  });
});

describe('ACME failure classification', () => {
  const ctx = { step: 'creating the order', directoryUrl: 'https://ca.example/dir' };
  it.each([
    [{ status: 400, type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'no' }, 'permanent'],
    [{ status: 403, type: 'urn:ietf:params:acme:error:unauthorized', detail: 'no' }, 'permanent'],
    [{ status: 400, type: 'urn:ietf:params:acme:error:badCSR', detail: 'no' }, 'permanent'],
    [{ status: 429, type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down' }, 'transient'],
    [{ status: 500, type: 'urn:ietf:params:acme:error:serverInternal', detail: 'oops' }, 'transient'],
    [{ status: 503 }, 'transient'],
    [{ status: 404 }, 'permanent'],
  ] as const)('%o is %s', (problem, kind) => {
    const err = classifyAcmeFailure(new Error('x'), { ...ctx, problem });
    expect(err.kind).toBe(kind);
    expect(err.message).toContain('creating the order');
  });

  it('no response is transient; an untrusted certificate is permanent; an IssuerError passes through', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(classifyAcmeFailure(new TypeError("Cannot read properties of undefined (reading 'config')"), { ...ctx, socketError: refused })).toMatchObject({ kind: 'transient', message: expect.stringContaining('ECONNREFUSED') });
    expect(classifyAcmeFailure(new TypeError("Cannot read properties of undefined (reading 'config')"), ctx)).toMatchObject({ kind: 'transient', message: expect.stringContaining('unreachable') });
    const untrusted = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(classifyAcmeFailure(new TypeError('x'), { ...ctx, socketError: untrusted })).toMatchObject({ kind: 'permanent', message: expect.stringContaining('ca_bundle_pem') });
    const own = new IssuerError('permanent', 'mine');
    expect(classifyAcmeFailure(own, ctx)).toBe(own);
  });
});

describe('ACME identifiers', () => {
  it('orders DNS names and IPs from the CSR, once each, and refuses other names', () => {
    expect(identifiersOf({ commonName: 'A.example.com', sans: ['a.example.com', '*.a.example.com', '192.0.2.7'] })).toEqual([
      { type: 'dns', value: 'a.example.com' }, { type: 'dns', value: '*.a.example.com' }, { type: 'ip', value: '192.0.2.7' },
    ]);
    expect(() => identifiersOf({ commonName: 'a.example.com', sans: ['mailto@example.com'] })).toThrow(/cannot certify mailto@example.com/);
  });
});

describe('dns-01 hooks', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'acme-hooks-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const script = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, `#!${process.execPath}\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  };
  const challenge = { domain: 'example.com', token: 'tok', value: 'dmFsdWU' };

  it('passes the four certctl variables and a fixed PATH, nothing else, and no arguments', async () => {
    const out = join(dir, 'env.json');
    await runDnsHook(script('env', `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ env: process.env, argv: process.argv.slice(2) }))`), challenge, 10_000);
    const seen = JSON.parse(readFileSync(out, 'utf8')) as { env: Record<string, string>; argv: string[] };
    expect(seen.argv).toEqual([]);
    expect(seen.env).toEqual(dnsHookEnvironment(challenge));
    expect(seen.env.CERTCTL_DNS_FQDN).toBe('_acme-challenge.example.com.');
  });

  it('does not interpret shell syntax in the path, kills a hung hook, and reports exit codes', async () => {
    await expect(runDnsHook(`${dir}/x; touch ${dir}/pwned`, challenge, 5_000)).rejects.toMatchObject({ kind: 'permanent' });
    expect(() => readFileSync(join(dir, 'pwned'))).toThrow();
    await expect(runDnsHook(script('hang', 'setTimeout(() => {}, 60_000)'), challenge, 300)).rejects.toMatchObject({ kind: 'transient', message: expect.stringContaining('did not finish') });
    await expect(runDnsHook(script('fail', "console.error('bad token'); process.exit(2)"), challenge, 5_000)).rejects.toMatchObject({ kind: 'transient', message: expect.stringMatching(/exit 2\): bad token/) });
    const notExecutable = join(dir, 'plain');
    writeFileSync(notExecutable, 'x');
    await expect(runDnsHook(notExecutable, challenge, 5_000)).rejects.toMatchObject({ kind: 'permanent', message: expect.stringContaining('not executable') });
  });
});

describe('http-01 responder', () => {
  it('answers GET /.well-known/acme-challenge/<token> from the store, 404 for anything else', async () => {
    const store = { get: async (t: string) => (t === 'good-token' ? 'good-token.thumbprint' : undefined) } as unknown as AcmeChallengeStore;
    const responder = new AcmeHttpResponder(store);
    const port = await responder.listen(0, '127.0.0.1');
    try {
      const url = (p: string) => `http://127.0.0.1:${port}${p}`;
      const ok = await fetch(url('/.well-known/acme-challenge/good-token'));
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('good-token.thumbprint');
      expect((await fetch(url('/.well-known/acme-challenge/other'))).status).toBe(404);
      expect((await fetch(url('/.well-known/acme-challenge/good-token'), { method: 'POST' })).status).toBe(404);
      expect((await fetch(url('/index.html'))).status).toBe(404);
    } finally {
      await responder.close();
    }
    expect(isChallengeToken('abc_DEF-123')).toBe(true);
    expect(isChallengeToken('../etc/passwd')).toBe(false);
    expect(isChallengeToken('a*')).toBe(false);
  });
});

describe('ACME issuer config validation', () => {
  it('refuses a missing directory_url, dns-01 without scripts, and bad new fields', () => {
    expect(issuerConfigProblem('ACME', {})).toMatchObject({ field: 'config.directory_url' });
    expect(issuerConfigProblem('ACME', { directory_url: 'https://ca.example/dir', challenge_type: 'dns-01', dns_present_script: '/bin/p' })).toMatchObject({ field: 'config.dns_cleanup_script' });
    expect(issuerConfigProblem('ACME', { directory_url: 'https://ca.example/dir', dns_propagation_wait: -1 })).toMatchObject({ field: 'config.dns_propagation_wait' });
    expect(issuerConfigProblem('ACME', { directory_url: 'https://ca.example/dir', ari_enabled: 'yes' })).toMatchObject({ field: 'config.ari_enabled' });
    expect(issuerConfigProblem('ACME', { directory_url: 'https://ca.example/dir', challenge_type: 'dns-01', dns_present_script: '/bin/p', dns_cleanup_script: '/bin/c', dns_propagation_wait: 30, ari_enabled: false })).toBeUndefined();
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
    ['http://[::ffff:a9fe:a9fe]/dir', /cloud metadata/],
    ['https://100.100.100.200/dir', /cloud metadata/],
    ['http://[fe80::1]/dir', /link-local/],
    ['javascript:alert(1)', /required/],
  ])('refuses directory_url %s under the outbound policy, naming the field', (url, message) => {
    const problem = issuerConfigProblem('ACME', { directory_url: url });
    expect(problem).toMatchObject({ field: 'config.directory_url' });
    expect(problem!.message).toMatch(message);
  });
});
