import { createServer, Server } from 'node:http';
import { createServer as createTlsServer } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bind9, bind9Missing, freePort, startBind9 } from '@certctl/testing';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';

const missing = bind9Missing();
if (missing && process.env.CI !== 'true') console.warn(`[acme-server-challenge] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/**
 * Challenge mode end to end: acme-client answers http-01 from a node http server on a loopback port and dns-01 by
 * RFC 2136 updates to a real BIND9 (the server's DNS resolver), the orchestrator validates over the
 * acme-validation queue with the validators of libs/acme-server/src/validation, records each attempt, retries a
 * refused connection, checks CAA, and the order is signed by the profile's Local CA.
 */
suite('ACME server: challenge mode (http-01, dns-01, tls-alpn-01) validated by the orchestrator', () => {
  let h: AcmeServerHarness;
  let bind: Bind9;
  let http01Port: number;
  let tlsAlpnPort: number;
  let http01: Server | undefined;
  const answers = new Map<string, string>();

  const listen = async () => {
    http01 = createServer((req, res) => {
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
      const answer = token ? answers.get(token) : undefined;
      res.writeHead(answer ? 200 : 404, { 'content-type': 'text/plain' }).end(answer ?? 'no such token');
    });
    await new Promise<void>((done) => http01!.listen(http01Port, '127.0.0.1', done));
  };
  const stopListening = async () => {
    await new Promise<void>((done) => (http01 ? http01.close(() => done()) : done()));
    http01 = undefined;
  };

  const client = async () => new acme.Client({ directoryUrl: h.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), backoffAttempts: 80, backoffMin: 50, backoffMax: 500 });
  const attempts = async (challengeUrl: string) =>
    (await h.p.db.query(`SELECT attempt, outcome, error->>'type' AS type FROM acme_validation_attempts WHERE challenge_id = $1 ORDER BY attempt`, [challengeUrl.split('/').pop()])).rows;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and BIND9 cannot run: ${missing}`);
    bind = await startBind9({ records: ['www 60 IN A 127.0.0.1', 'blocked 60 IN A 127.0.0.1', 'blocked 60 IN CAA 0 issue "other-ca.example"'] });
    http01Port = await freePort();
    tlsAlpnPort = await freePort();
    h = await startAcmeServer('challenge', {
      CERTCTL_ACME_SERVER_HTTP01_PORT: String(http01Port), CERTCTL_ACME_SERVER_TLSALPN01_PORT: String(tlsAlpnPort), CERTCTL_ACME_SERVER_DNS_RESOLVER: bind.address,
      CERTCTL_ACME_SERVER_CAA_IDENTITIES: 'certctl.example.test',
    // Accounts without EAB: their certificates go to a default owner (read by the responder when it starts).
    }, ({ inv }) => (process.env.CERTCTL_ACME_SERVER_DEFAULT_OWNER_ID = inv.ownerId));
    await listen();
  });
  afterAll(async () => {
    delete process.env.CERTCTL_ACME_SERVER_DEFAULT_OWNER_ID;
    await stopListening();
    await h?.close();
    await bind?.stop();
  });

  it('has every certctl_acme_* family on the first scrape of the responder, then counts', async () => {
    const first = await (await fetch(`${h.base}/metrics`)).text();
    for (const op of ['directory', 'new_nonce', 'new_account', 'new_order', 'finalize_order', 'challenge_respond', 'revoke_cert', 'renewal_info']) {
      expect(first).toMatch(new RegExp(`^certctl_acme_${op}_total\\{[^}]*\\} 0$`, 'm'));
      expect(first).toMatch(new RegExp(`^certctl_acme_${op}_failures_total\\{[^}]*\\} 0$`, 'm'));
    }
    await fetch(h.directoryUrl);
    await fetch(`${h.base}/acme/profile/prof-nope/directory`);
    const after = await (await fetch(`${h.base}/metrics`)).text();
    expect(after).toMatch(/^certctl_acme_directory_total\{[^}]*\} 2$/m);
    expect(after).toMatch(/^certctl_acme_directory_failures_total\{[^}]*\} 1$/m);
    // The same counts, cluster-wide (Redis), on the api's certctl exposition.
    const prometheus = async () => (await h.p.http.get('/api/v1/metrics/prometheus').set(h.p.auth()).expect(200)).text;
    const deadline = Date.now() + 5000;
    let text = await prometheus();
    while (!/^certctl_acme_directory_total 2$/m.test(text) && Date.now() < deadline) text = await prometheus();
    expect(text).toMatch(/^certctl_acme_directory_total 2$/m);
    expect(text).toMatch(/^certctl_acme_directory_failures_total 1$/m);
    expect(text).toMatch(/^certctl_acme_challenge_validate_total 0$/m);
  });

  it('http-01 for an IP identifier (RFC 8738: only http-01 and tls-alpn-01 offered), validated on the queue, issued with the IP SAN', async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'ip', value: '127.0.0.1' }] });
    expect(order.status).toBe('pending');
    const [authz] = await c.getAuthorizations(order);
    expect(authz!.challenges.map((x) => x.type).sort()).toEqual(['http-01', 'tls-alpn-01']);
    const challenge = authz!.challenges.find((x) => x.type === 'http-01')!;
    answers.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
    await c.completeChallenge(challenge);
    await c.waitForValidStatus(challenge);
    expect(await attempts(challenge.url)).toEqual([{ attempt: 1, outcome: 'valid', type: null }]);
    const [, csr] = await acme.crypto.createCsr({ altNames: ['127.0.0.1'] });
    const finalized = await c.finalizeOrder(order, csr);
    const pem = await c.getCertificate(await c.waitForValidStatus(finalized));
    expect(new X509Certificate(acme.crypto.splitPemChain(pem)[0]!).subjectAltName).toBe('IP Address:127.0.0.1');
    const { rows: [cert] } = await h.p.db.query(`SELECT c.source, c.owner_id FROM managed_certificates c JOIN acme_orders o ON o.certificate_id = c.id WHERE o.id = $1`, [order.url.split('/').pop()]);
    expect(cert).toEqual({ source: 'ACME', owner_id: h.inv.ownerId });
    const text = (await h.p.http.get('/api/v1/metrics/prometheus').set(h.p.auth()).expect(200)).text;
    expect(text).toMatch(/^certctl_acme_challenge_validate_total [1-9]\d*$/m);
    expect(text).toMatch(/^certctl_acme_finalize_order_total [1-9]\d*$/m);
  });

  it('http-01 for a DNS name resolved through BIND9, with acme-client auto()', async () => {
    const c = await client();
    const [, csr] = await acme.crypto.createCsr({ commonName: 'www.example.test' });
    const pem = await c.auto({
      csr, termsOfServiceAgreed: true, challengePriority: ['http-01'],
      // acme-client's own pre-check would fetch port 80 through the system resolver; our server does the validating.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, ch, keyAuthorization) => void answers.set(ch.token, keyAuthorization),
      challengeRemoveFn: async (_authz, ch) => void answers.delete(ch.token),
    });
    expect(new X509Certificate(acme.crypto.splitPemChain(pem)[0]!).subjectAltName).toBe('DNS:www.example.test');
  });

  it('dns-01 for a wildcard (the only challenge a wildcard gets), TXT records written to BIND9 by RFC 2136', async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: '*.example.test' }] });
    const [authz] = await c.getAuthorizations(order);
    expect(authz).toMatchObject({ identifier: { type: 'dns', value: 'example.test' }, wildcard: true });
    expect(authz!.challenges.map((x) => x.type)).toEqual(['dns-01']);
    const challenge = authz!.challenges[0]!;
    await bind.addRecord('_acme-challenge', 'TXT', `"${await c.getChallengeKeyAuthorization(challenge)}"`);
    await c.completeChallenge(challenge);
    await c.waitForValidStatus(challenge);
    const [, csr] = await acme.crypto.createCsr({ commonName: '*.example.test' });
    const pem = await c.getCertificate(await c.waitForValidStatus(await c.finalizeOrder(order, csr)));
    expect(new X509Certificate(acme.crypto.splitPemChain(pem)[0]!).subjectAltName).toBe('DNS:*.example.test');
  });

  it('tls-alpn-01 (RFC 8737) for a DNS name: acme-client\'s acme-tls/1 certificate served on the configured port', async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'www.example.test' }] });
    const [authz] = await c.getAuthorizations(order);
    const challenge = authz!.challenges.find((x) => (x.type as string) === 'tls-alpn-01')!;
    const [key, cert] = await acme.crypto.createAlpnCertificate(authz!, await c.getChallengeKeyAuthorization(challenge));
    const alpn = createTlsServer({ key, cert, ALPNProtocols: ['acme-tls/1'] }, (socket) => socket.end());
    await new Promise<void>((done) => alpn.listen(tlsAlpnPort, '127.0.0.1', done));
    try {
      await c.completeChallenge(challenge);
      await c.waitForValidStatus(challenge);
      expect(await attempts(challenge.url)).toEqual([{ attempt: 1, outcome: 'valid', type: null }]);
      expect((await c.getOrder(order)).status).toBe('ready');
    } finally {
      await new Promise<void>((done) => alpn.close(() => done()));
    }
  });

  it('a wrong answer makes the challenge, authorization and order invalid (incorrectResponse); CAA naming another CA gives caa', async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'ip', value: '127.0.0.1' }] });
    const [authz] = await c.getAuthorizations(order);
    const challenge = authz!.challenges.find((x) => x.type === 'http-01')!;
    answers.set(challenge.token, `${challenge.token}.not-the-thumbprint`);
    await c.completeChallenge(challenge);
    await expect(c.waitForValidStatus(challenge)).rejects.toThrow();
    expect(await attempts(challenge.url)).toEqual([{ attempt: 1, outcome: 'invalid', type: 'urn:ietf:params:acme:error:incorrectResponse' }]);
    expect((await c.getAuthorizations(order))[0]!.status).toBe('invalid');
    expect((await c.getOrder(order)).status).toBe('invalid');

    const blocked = await c.createOrder({ identifiers: [{ type: 'dns', value: 'blocked.example.test' }] });
    const [bauthz] = await c.getAuthorizations(blocked);
    const bch = bauthz!.challenges.find((x) => x.type === 'http-01')!;
    answers.set(bch.token, await c.getChallengeKeyAuthorization(bch));
    await c.completeChallenge(bch);
    await expect(c.waitForValidStatus(bch)).rejects.toThrow();
    expect(await attempts(bch.url)).toEqual([{ attempt: 1, outcome: 'invalid', type: 'urn:ietf:params:acme:error:caa' }]);
  });

  it('CAA accounturi (RFC 8657): the record naming this account\'s URL lets it through http-01; another account gets caa', async () => {
    const owner = await client();
    await owner.createAccount({ termsOfServiceAgreed: true });
    const name = 'pinned.example.test';
    await bind.addRecord(name, 'A', '127.0.0.1');
    await bind.addRecord(name, 'CAA', `0 issue "certctl.example.test; accounturi=${owner.getAccountUrl()}"`);
    const { rows } = await h.p.db.query(`SELECT url FROM acme_accounts WHERE id = $1`, [owner.getAccountUrl().split('/').pop()]);
    expect(rows[0].url).toBe(owner.getAccountUrl());
    const validate = async (c: acme.Client) => {
      const order = await c.createOrder({ identifiers: [{ type: 'dns', value: name }] });
      const [authz] = await c.getAuthorizations(order);
      const ch = authz!.challenges.find((x) => x.type === 'http-01')!;
      answers.set(ch.token, await c.getChallengeKeyAuthorization(ch));
      await c.completeChallenge(ch);
      await c.waitForValidStatus(ch).catch(() => undefined);
      return (await attempts(ch.url)).at(-1);
    };
    expect(await validate(owner)).toMatchObject({ outcome: 'valid' });
    const stranger = await client();
    await stranger.createAccount({ termsOfServiceAgreed: true });
    expect(await validate(stranger)).toEqual({ attempt: 1, outcome: 'invalid', type: 'urn:ietf:params:acme:error:caa' });
  });

  it('a refused connection is retried (each attempt recorded) and succeeds once the client listens', async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'ip', value: '127.0.0.1' }] });
    const [authz] = await c.getAuthorizations(order);
    const challenge = authz!.challenges.find((x) => x.type === 'http-01')!;
    answers.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
    await stopListening();
    await c.completeChallenge(challenge);
    const deadline = Date.now() + 20_000;
    while (!(await attempts(challenge.url)).some((a) => a.outcome === 'retry')) {
      if (Date.now() > deadline) throw new Error('no retry attempt recorded');
      await new Promise((r) => setTimeout(r, 50));
    }
    await listen();
    await c.waitForValidStatus(challenge);
    const recorded = await attempts(challenge.url);
    expect(recorded[0]).toEqual({ attempt: 1, outcome: 'retry', type: 'urn:ietf:params:acme:error:connection' });
    expect(recorded.at(-1)).toMatchObject({ outcome: 'valid' });
  });
});
