import { createHash, randomBytes, webcrypto } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo, createServer, Socket } from 'node:net';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUTBOUND_POLICY } from '@certctl/config';
import { Bind9, bind9Missing, freePort, startBind9 } from '@certctl/testing';
import { validateChallenge, ValidateChallengeInput } from './index';

/**
 * The three validators against real listeners playing the ACME client's side (node http and tls servers, the
 * tls-alpn-01 certificate made by acme-client, an independent implementation of RFC 8737), with names resolved and
 * TXT records served by a real BIND9 on a loopback port.
 */
const missing = bind9Missing();
if (missing && process.env.CI !== 'true') console.warn(`[validation.int-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

function newChallenge() {
  const token = randomBytes(32).toString('base64url');
  return { token, keyAuthorization: `${token}.${randomBytes(32).toString('base64url')}` };
}

/** RFC 8555 §8.4, written out here rather than imported, so a wrong digest in the validator fails the test. */
const txtFor = (keyAuthorization: string) => createHash('sha256').update(keyAuthorization).digest('base64url');

async function listen<T extends http.Server | https.Server | tls.Server>(server: T, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

suite('ACME challenge validation against real listeners and BIND9', () => {
  let bind: Bind9;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and BIND9 cannot run: ${missing}`);
    bind = await startBind9({
      records: ['www 60 IN A 127.0.0.1', 'v6only 60 IN AAAA ::1', 'alias 60 IN CNAME www', 'nowhere 60 IN A 127.0.0.1'],
    });
  });
  afterAll(async () => {
    await bind?.stop();
  });

  describe('http-01', () => {
    const served = new Map<string, { status?: number; body: string; location?: string }>();
    const hostHeaders: string[] = [];
    let server: http.Server;
    let server6: http.Server;
    let port: number;
    let port6: number;

    beforeAll(async () => {
      const handler: http.RequestListener = (req, res) => {
        hostHeaders.push(String(req.headers.host));
        const answer = served.get(req.url ?? '');
        if (!answer) return void res.writeHead(404).end('not found');
        res.writeHead(answer.status ?? 200, answer.location ? { Location: answer.location } : {}).end(answer.body);
      };
      server = http.createServer(handler);
      port = await listen(server);
      server6 = http.createServer(handler);
      port6 = await listen(server6, '::1');
    });
    afterAll(async () => {
      server?.close();
      server6?.close();
    });

    const input = (c: { token: string; keyAuthorization: string }, identifier: ValidateChallengeInput['identifier'], p = port): ValidateChallengeInput => ({
      type: 'http-01',
      identifier,
      ...c,
      options: { http01Port: p, dnsResolver: bind.address, timeoutMs: 3000 },
    });

    it('is valid when the client serves the key authorization (whitespace trimmed), reached by its DNS name with that Host', async () => {
      const c = newChallenge();
      served.set(`/.well-known/acme-challenge/${c.token}`, { body: `${c.keyAuthorization}\r\n` });
      hostHeaders.length = 0;
      expect(await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }))).toEqual({ valid: true });
      expect(hostHeaders).toEqual([`www.example.test:${port}`]);
      // A CNAME is followed by the resolver.
      expect(await validateChallenge(input(c, { type: 'dns', value: 'alias.example.test' }))).toEqual({ valid: true });
    });

    it('validates IP identifiers (RFC 8738), IPv4 and IPv6 literals', async () => {
      const c = newChallenge();
      served.set(`/.well-known/acme-challenge/${c.token}`, { body: c.keyAuthorization });
      expect(await validateChallenge(input(c, { type: 'ip', value: '127.0.0.1' }))).toEqual({ valid: true });
      hostHeaders.length = 0;
      expect(await validateChallenge(input(c, { type: 'ip', value: '::1' }, port6))).toEqual({ valid: true });
      expect(hostHeaders).toEqual([`[::1]:${port6}`]);
      // A name with only an AAAA record is reached over IPv6.
      expect(await validateChallenge(input(c, { type: 'dns', value: 'v6only.example.test' }, port6))).toEqual({ valid: true });
    });

    it('fails with incorrectResponse on a wrong body and unauthorized on a 404', async () => {
      const c = newChallenge();
      served.set(`/.well-known/acme-challenge/${c.token}`, { body: `${c.token}.wrong-thumbprint` });
      const wrong = await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }));
      expect(wrong).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:incorrectResponse' } });
      const other = newChallenge();
      const notFound = await validateChallenge(input(other, { type: 'dns', value: 'www.example.test' }));
      expect(notFound).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:unauthorized', detail: expect.stringContaining('HTTP 404') } });
    });

    it('follows redirects up to a limit, only to the validation ports', async () => {
      const c = newChallenge();
      const path = `/.well-known/acme-challenge/${c.token}`;
      served.set(path, { status: 302, body: '', location: `/hop1/${c.token}` });
      served.set(`/hop1/${c.token}`, { status: 301, body: '', location: `http://www.example.test:${port}/final/${c.token}` });
      served.set(`/final/${c.token}`, { body: c.keyAuthorization });
      expect(await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }))).toEqual({ valid: true });

      const loop = newChallenge();
      served.set(`/.well-known/acme-challenge/${loop.token}`, { status: 302, body: '', location: `/.well-known/acme-challenge/${loop.token}` });
      const looped = await validateChallenge(input(loop, { type: 'dns', value: 'www.example.test' }));
      expect(looped).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:unauthorized', detail: expect.stringContaining('redirects') } });

      const elsewhere = newChallenge();
      served.set(`/.well-known/acme-challenge/${elsewhere.token}`, { status: 302, body: '', location: `http://127.0.0.1:${port6 === 6379 ? 6380 : 6379}/` });
      const redirected = await validateChallenge(input(elsewhere, { type: 'dns', value: 'www.example.test' }));
      expect(redirected).toMatchObject({ valid: false, problem: { detail: expect.stringContaining('not allowed') } });
    });

    it('follows a redirect to https (certificate not checked, as RFC 8555 §8.3 allows) on a validation port', async () => {
      const key = await acme.crypto.createPrivateEcdsaKey();
      const [, cert] = await acme.crypto.createAlpnCertificate({ identifier: { type: 'dns', value: 'www.example.test' } } as acme.Authorization, 'unused.x', key);
      const c = newChallenge();
      const secure = https.createServer({ key, cert }, (req, res) => void (req.url === `/secure/${c.token}` ? res.end(c.keyAuthorization) : res.writeHead(404).end()));
      const securePort = await listen(secure);
      try {
        served.set(`/.well-known/acme-challenge/${c.token}`, { status: 307, body: '', location: `https://www.example.test:${securePort}/secure/${c.token}` });
        const result = await validateChallenge({ ...input(c, { type: 'dns', value: 'www.example.test' }), options: { http01Port: port, tlsAlpn01Port: securePort, dnsResolver: bind.address } });
        expect(result).toEqual({ valid: true });
      } finally {
        secure.close();
      }
    });

    it('refuses a body larger than the limit', async () => {
      const c = newChallenge();
      served.set(`/.well-known/acme-challenge/${c.token}`, { body: `${c.keyAuthorization}${' '.repeat(10_000)}` });
      const result = await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }));
      expect(result).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:unauthorized', detail: expect.stringContaining('larger') } });
    });

    it('reports connection and dns problems', async () => {
      const c = newChallenge();
      const closed = await freePort();
      const refused = await validateChallenge(input(c, { type: 'dns', value: 'nowhere.example.test' }, closed));
      expect(refused).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:connection', detail: expect.stringContaining('ECONNREFUSED') } });
      const unknown = await validateChallenge(input(c, { type: 'dns', value: 'missing.example.test' }));
      expect(unknown).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:dns', detail: expect.stringContaining('missing.example.test') } });
    });

    it('goes through the outbound policy: loopback refused under the production default', async () => {
      const c = newChallenge();
      served.set(`/.well-known/acme-challenge/${c.token}`, { body: c.keyAuthorization });
      const result = await validateChallenge({ ...input(c, { type: 'dns', value: 'www.example.test' }), options: { http01Port: port, dnsResolver: bind.address, outboundPolicy: DEFAULT_OUTBOUND_POLICY } });
      expect(result).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:connection', detail: expect.stringContaining('loopback') } });
    });
  });

  describe('dns-01', () => {
    const input = (c: { token: string; keyAuthorization: string }, value: string, resolver = bind.address): ValidateChallengeInput => ({
      type: 'dns-01',
      identifier: { type: 'dns', value },
      ...c,
      options: { dnsResolver: resolver, timeoutMs: 2000 },
    });

    it('is valid when _acme-challenge holds base64url(SHA-256(keyAuthorization)), among other TXT values', async () => {
      const c = newChallenge();
      await bind.addRecord('_acme-challenge.www', 'TXT', '"unrelated"');
      await bind.addRecord('_acme-challenge.www', 'TXT', `"${txtFor(c.keyAuthorization)}"`);
      expect(await validateChallenge(input(c, 'www.example.test'))).toEqual({ valid: true });
      await bind.removeRecords('_acme-challenge.www', 'TXT');
      expect(await validateChallenge(input(c, 'www.example.test'))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:unauthorized', detail: expect.stringContaining('No TXT record') } });
    });

    it('validates a wildcard at its base name', async () => {
      const c = newChallenge();
      await bind.addRecord('_acme-challenge', 'TXT', `"${txtFor(c.keyAuthorization)}"`);
      expect(await validateChallenge(input(c, '*.example.test'))).toEqual({ valid: true });
      await bind.removeRecords('_acme-challenge', 'TXT');
    });

    it('fails with incorrectResponse on a wrong value, dns when the server does not answer, malformed for an IP', async () => {
      const c = newChallenge();
      await bind.addRecord('_acme-challenge.wrong', 'TXT', `"${txtFor(`${c.keyAuthorization}x`)}"`);
      expect(await validateChallenge(input(c, 'wrong.example.test'))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:incorrectResponse' } });
      const silent = `127.0.0.1:${await freePort()}`;
      expect(await validateChallenge(input(c, 'wrong.example.test', silent))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:dns' } });
      expect(await validateChallenge({ ...input(c, '127.0.0.1'), identifier: { type: 'ip', value: '127.0.0.1' } })).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:malformed' } });
    });
  });

  describe('tls-alpn-01', () => {
    /** What the listener presents for each SNI it sees. */
    const contexts = new Map<string, tls.SecureContext>();
    const seenSni: string[] = [];
    let server: tls.Server;
    let noAlpnServer: tls.Server;
    let port: number;
    let noAlpnPort: number;
    let fallbackKey: string;
    let fallbackCert: string;

    beforeAll(async () => {
      const key = await acme.crypto.createPrivateEcdsaKey();
      const [, cert] = await acme.crypto.createAlpnCertificate({ identifier: { type: 'dns', value: 'fallback.example.test' } } as acme.Authorization, 'x.y', key);
      fallbackKey = key.toString();
      fallbackCert = cert.toString();
      const options: tls.TlsOptions = {
        key: fallbackKey,
        cert: fallbackCert,
        ALPNProtocols: ['acme-tls/1'],
        SNICallback: (name, cb) => {
          seenSni.push(name);
          cb(null, contexts.get(name));
        },
      };
      server = tls.createServer(options, (socket) => socket.end());
      port = await listen(server);
      noAlpnServer = tls.createServer({ key: fallbackKey, cert: fallbackCert }, (socket) => socket.end());
      noAlpnPort = await listen(noAlpnServer);
    });
    afterAll(() => {
      server?.close();
      noAlpnServer?.close();
    });

    async function answerWith(sni: string, authz: { type: 'dns' | 'ip'; value: string }, keyAuthorization: string) {
      const key = await acme.crypto.createPrivateEcdsaKey();
      const [, cert] = await acme.crypto.createAlpnCertificate({ identifier: authz } as acme.Authorization, keyAuthorization, key);
      contexts.set(sni, tls.createSecureContext({ key, cert }));
    }

    /** A certificate built by hand, for the answers acme-client would never make. */
    async function answerWithCustom(sni: string, sans: x509.JsonGeneralName[], keyAuthorization: string, critical: boolean) {
      const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
      const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
      const digest = createHash('sha256').update(keyAuthorization).digest();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        keys: keys as CryptoKeyPair,
        signingAlgorithm: alg,
        name: 'CN=alpn',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3_600_000),
        extensions: [new x509.SubjectAlternativeNameExtension(sans), new x509.Extension('1.3.6.1.5.5.7.1.31', critical, Buffer.concat([Buffer.from([0x04, 0x20]), digest]))],
      });
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
      contexts.set(sni, tls.createSecureContext({ key: `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`, cert: cert.toString('pem') }));
    }

    const input = (c: { token: string; keyAuthorization: string }, identifier: ValidateChallengeInput['identifier'], p = port): ValidateChallengeInput => ({
      type: 'tls-alpn-01',
      identifier,
      ...c,
      options: { tlsAlpn01Port: p, dnsResolver: bind.address, timeoutMs: 3000 },
    });

    it('is valid for the certificate acme-client makes (SNI = the name, acmeIdentifier critical)', async () => {
      const c = newChallenge();
      await answerWith('www.example.test', { type: 'dns', value: 'www.example.test' }, c.keyAuthorization);
      seenSni.length = 0;
      expect(await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }))).toEqual({ valid: true });
      expect(seenSni).toEqual(['www.example.test']);
    });

    it('validates an IP identifier with the reverse-DNS SNI of RFC 8738 §6', async () => {
      const c = newChallenge();
      await answerWith('1.0.0.127.in-addr.arpa', { type: 'ip', value: '127.0.0.1' }, c.keyAuthorization);
      seenSni.length = 0;
      expect(await validateChallenge(input(c, { type: 'ip', value: '127.0.0.1' }))).toEqual({ valid: true });
      expect(seenSni).toEqual(['1.0.0.127.in-addr.arpa']);
    });

    it('validates an IPv6 identifier with its ip6.arpa SNI', async () => {
      const c = newChallenge();
      const sni = `1${'.0'.repeat(31)}.ip6.arpa`;
      await answerWith(sni, { type: 'ip', value: '::1' }, c.keyAuthorization);
      const server6 = tls.createServer({ key: fallbackKey, cert: fallbackCert, ALPNProtocols: ['acme-tls/1'], SNICallback: (name, cb) => (seenSni.push(name), cb(null, contexts.get(name))) }, (s) => s.end());
      const port6 = await listen(server6, '::1');
      try {
        seenSni.length = 0;
        expect(await validateChallenge(input(c, { type: 'ip', value: '::1' }, port6))).toEqual({ valid: true });
        expect(seenSni).toEqual([sni]);
      } finally {
        server6.close();
      }
    });

    it('fails with incorrectResponse when the extension holds another key authorization', async () => {
      const c = newChallenge();
      await answerWith('www.example.test', { type: 'dns', value: 'www.example.test' }, `${c.keyAuthorization}-other`);
      expect(await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:incorrectResponse' } });
    });

    it('refuses a non-critical acmeIdentifier, a second SAN and a SAN for another name', async () => {
      const c = newChallenge();
      const identifier = { type: 'dns' as const, value: 'www.example.test' };
      await answerWithCustom('www.example.test', [{ type: 'dns', value: 'www.example.test' }], c.keyAuthorization, false);
      expect(await validateChallenge(input(c, identifier))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:unauthorized', detail: expect.stringContaining('not critical') } });
      await answerWithCustom('www.example.test', [{ type: 'dns', value: 'www.example.test' }, { type: 'dns', value: 'evil.example.test' }], c.keyAuthorization, true);
      expect(await validateChallenge(input(c, identifier))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:unauthorized', detail: expect.stringContaining('subjectAltName') } });
      await answerWithCustom('www.example.test', [{ type: 'dns', value: 'other.example.test' }], c.keyAuthorization, true);
      expect(await validateChallenge(input(c, identifier))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:unauthorized' } });
      // The same hand-made certificate with every property right is accepted, so the refusals above are the properties'.
      await answerWithCustom('www.example.test', [{ type: 'dns', value: 'www.example.test' }], c.keyAuthorization, true);
      expect(await validateChallenge(input(c, identifier))).toEqual({ valid: true });
    });

    it('fails with tls when acme-tls/1 is not negotiated, connection when nothing listens', async () => {
      const c = newChallenge();
      expect(await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }, noAlpnPort))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:tls' } });
      expect(await validateChallenge(input(c, { type: 'dns', value: 'www.example.test' }, await freePort()))).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:connection' } });
    });
  });

  it('a client that accepts the connection and never answers times out as a transient connection problem (http-01 and tls-alpn-01)', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    const port = await listen(silent as unknown as http.Server);
    try {
      const c = newChallenge();
      const base = { identifier: { type: 'dns' as const, value: 'www.example.test' }, ...c };
      const started = Date.now();
      const http01 = await validateChallenge({ ...base, type: 'http-01', options: { http01Port: port, dnsResolver: bind.address, timeoutMs: 400 } });
      expect(http01).toEqual({ valid: false, transient: true, problem: { type: 'urn:ietf:params:acme:error:connection', detail: expect.stringContaining('timed out after 400 ms') } });
      const alpn = await validateChallenge({ ...base, type: 'tls-alpn-01', options: { tlsAlpn01Port: port, dnsResolver: bind.address, timeoutMs: 400 } });
      expect(alpn).toEqual({ valid: false, transient: true, problem: { type: 'urn:ietf:params:acme:error:connection', detail: expect.stringContaining('timed out after 400 ms') } });
      expect(Date.now() - started).toBeLessThan(5_000);
      // A refused connection is the client's answer, not a hiccup: not transient.
      const refused = await validateChallenge({ ...base, type: 'http-01', options: { http01Port: await freePort(), dnsResolver: bind.address } });
      expect(refused).not.toHaveProperty('transient');
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });

  it('a DNS server that does not answer is a transient dns problem', async () => {
    const c = newChallenge();
    const dead = `127.0.0.1:${await freePort()}`;
    const dns01 = await validateChallenge({ type: 'dns-01', identifier: { type: 'dns', value: 'www.example.test' }, ...c, options: { dnsResolver: dead, timeoutMs: 600 } });
    expect(dns01).toMatchObject({ valid: false, transient: true, problem: { type: 'urn:ietf:params:acme:error:dns' } });
    const http01 = await validateChallenge({ type: 'http-01', identifier: { type: 'dns', value: 'www.example.test' }, ...c, options: { dnsResolver: dead, timeoutMs: 600 } });
    expect(http01).toMatchObject({ valid: false, transient: true, problem: { type: 'urn:ietf:params:acme:error:dns' } });
  });

  it('refuses a token that is not base64url before dialling anything', async () => {
    const result = await validateChallenge({ type: 'http-01', identifier: { type: 'dns', value: 'www.example.test' }, token: '../../etc', keyAuthorization: '../../etc.x' });
    expect(result).toMatchObject({ valid: false, problem: { type: 'urn:ietf:params:acme:error:malformed' } });
  });
});
