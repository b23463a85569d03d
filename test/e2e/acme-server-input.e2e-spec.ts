import { X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import { exportJWK, importPKCS8, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawAcme, rawKey, RawKey, randomName } from '../support/acme-raw';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';

const ORDERS_PER_HOUR = 12;
const MAX_BODY = 4096;

/**
 * What a broken or hostile ACME client sends, against the real server: each answer is an RFC 8555 §6.7 problem
 * document (application/problem+json) with a fresh Replay-Nonce, never a 500.
 */
describe('ACME server: bad input gets problem documents', () => {
  let h: AcmeServerHarness;
  let raw: RawAcme;
  let dir: Record<string, any>;
  let key: RawKey;
  let kid: string;

  const problem = (res: { status: number; headers: Headers; body: any }, status: number, type: string) => {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('replay-nonce')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(res.body).toMatchObject({ type: `urn:ietf:params:acme:error:${type}`, status });
  };

  beforeAll(async () => {
    h = await startAcmeServer('trust_authenticated', {
      CERTCTL_ACME_SERVER_ORDERS_PER_ACCOUNT_HOUR: String(ORDERS_PER_HOUR), CERTCTL_ACME_SERVER_MAX_BODY_BYTES: String(MAX_BODY),
    }, ({ profileId }) => (process.env.CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID = profileId));
    raw = new RawAcme(h.directoryUrl);
    dir = await raw.directory();
    key = await rawKey('ES256');
    const eab = await h.eabKey();
    const c = new acme.Client({ directoryUrl: h.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: eab });
    await c.createAccount({ termsOfServiceAgreed: true });
    // The raw key's own account, for the hand-signed requests.
    const eab2 = await h.eabKey();
    const created = await raw.post(dir.newAccount, { termsOfServiceAgreed: true, externalAccountBinding: await eabJws(eab2, key.jwk, dir.newAccount) }, { key, jwk: true });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    kid = created.headers.get('location')!;
  });
  afterAll(async () => {
    delete process.env.CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID;
    await h?.close();
  });

  async function eabJws(eab: { kid: string; hmacKey: string }, jwk: JWK, url: string): Promise<unknown> {
    const { FlattenedSign } = await import('jose');
    return new FlattenedSign(new TextEncoder().encode(JSON.stringify(jwk)))
      .setProtectedHeader({ alg: 'HS256', kid: eab.kid, url })
      .sign(Buffer.from(eab.hmacKey, 'base64url'));
  }

  it('malformed JWS: not JSON, missing signature, general serialization, wrong content type', async () => {
    problem(await raw.send(dir.newOrder, '{not json'), 400, 'malformed');
    problem(await raw.send(dir.newOrder, JSON.stringify({ protected: 'e30', payload: '' })), 400, 'malformed');
    problem(await raw.send(dir.newOrder, JSON.stringify({ payload: '', signatures: [] })), 400, 'malformed');
    problem(await raw.send(dir.newOrder, await raw.sign(dir.newOrder, {}, { key, kid }), 'application/json'), 415, 'malformed');
  });

  it('wrong signature, url mismatch, kid and jwk both, unsupported algorithm', async () => {
    const order = { identifiers: [{ type: 'dns', value: randomName('x') }] };
    const tampered = await raw.post(dir.newOrder, order, { key, kid, tamper: true });
    problem(tampered, 400, 'malformed');
    expect(tampered.body.detail).toMatch(/signature does not verify/);
    problem(await raw.post(dir.newOrder, order, { key, kid, url: dir.newAccount }), 403, 'unauthorized');
    const both = await raw.post(dir.newOrder, order, { key, kid, jwk: true });
    problem(both, 400, 'malformed');
    expect(both.body.detail).toMatch(/both "jwk" and "kid"/);
    for (const alg of ['none', 'HS256', 'PS256']) {
      const res = await raw.post(dir.newOrder, order, { key, kid, alg });
      problem(res, 400, 'badSignatureAlgorithm');
      expect(res.body.algorithms).toEqual(['ES256', 'ES384', 'RS256', 'EdDSA']);
    }
  });

  it('reused and unknown nonces: badNonce with a fresh Replay-Nonce that works', async () => {
    const nonce = await raw.nonce();
    const payload = { identifiers: [{ type: 'dns', value: randomName('n') }] };
    expect((await raw.post(dir.newOrder, payload, { key, kid, nonce })).status).toBe(201);
    const reused = await raw.post(dir.newOrder, payload, { key, kid, nonce });
    problem(reused, 400, 'badNonce');
    problem(await raw.post(dir.newOrder, payload, { key, kid, nonce: 'made-up-nonce' }), 400, 'badNonce');
    problem(await raw.post(dir.newOrder, payload, { key, kid, nonce: null }), 400, 'badNonce');
    const retried = await raw.post(dir.newOrder, payload, { key, kid, nonce: reused.headers.get('replay-nonce') });
    expect(retried.status).toBe(201);
  });

  it('unknown account, another account\'s order, deactivated account', async () => {
    const stranger = await rawKey('ES384');
    problem(await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('u') }] }, { key: stranger, kid: kid.replace(/acct-\w+$/, 'acct-nope') }), 400, 'accountDoesNotExist');
    problem(await raw.post(dir.newOrder, {}, { key: stranger, jwk: true }), 400, 'malformed');
    const mine = await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('m') }] }, { key, kid });
    // The other account (acme-client's, made in beforeAll) cannot read it.
    const eab = await h.eabKey();
    const other = await rawKey('EdDSA');
    const otherAccount = await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(eab, other.jwk, dir.newAccount) }, { key: other, jwk: true });
    expect(otherAccount.status, JSON.stringify(otherAccount.body)).toBe(201);
    const otherKid = otherAccount.headers.get('location')!;
    problem(await raw.post(mine.headers.get('location')!, '', { key: other, kid: otherKid }), 403, 'unauthorized');
    expect((await raw.post(otherKid, { status: 'deactivated' }, { key: other, kid: otherKid })).body.status).toBe('deactivated');
    const refused = await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('d') }] }, { key: other, kid: otherKid });
    problem(refused, 403, 'unauthorized');
    expect(refused.body.detail).toBe('account is deactivated');
  });

  it('EAB: wrong HMAC, expired key, key of another profile, key already bound, no EAB', async () => {
    const fresh = await rawKey();
    const good = await h.eabKey();
    const wrong = await raw.post(dir.newAccount, { externalAccountBinding: await eabJws({ kid: good.kid, hmacKey: Buffer.alloc(32, 7).toString('base64url') }, fresh.jwk, dir.newAccount) }, { key: fresh, jwk: true });
    problem(wrong, 403, 'unauthorized');
    expect(wrong.body.detail).toMatch(/MAC does not verify/);
    const expired = await h.eabKey({ expiresAt: new Date(Date.now() - 1000) });
    problem(await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(expired, fresh.jwk, dir.newAccount) }, { key: fresh, jwk: true }), 403, 'unauthorized');
    const otherProfile = await h.addProfile({ mode: 'trust_authenticated' });
    const foreign = await h.eabKey({ profileId: otherProfile });
    problem(await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(foreign, fresh.jwk, dir.newAccount) }, { key: fresh, jwk: true }), 403, 'unauthorized');
    // Binds another key's JWK: the MAC is right, the key is not the one signing.
    const elsewhere = await rawKey();
    problem(await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(good, elsewhere.jwk, dir.newAccount) }, { key: fresh, jwk: true }), 403, 'unauthorized');
    expect((await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(good, fresh.jwk, dir.newAccount) }, { key: fresh, jwk: true })).status).toBe(201);
    const third = await rawKey();
    problem(await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(good, third.jwk, dir.newAccount) }, { key: third, jwk: true }), 403, 'unauthorized');
    problem(await raw.post(dir.newAccount, { termsOfServiceAgreed: true }, { key: third, jwk: true }), 403, 'externalAccountRequired');
  });

  it('oversized body: 413 problem', async () => {
    const big = await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('big') }], pad: 'x'.repeat(MAX_BODY) }, { key, kid });
    problem(big, 413, 'malformed');
  });

  it('badCSR (names differ), badPublicKey (RSA 1024), rejectedIdentifier (profile pattern) with its subproblem', async () => {
    const c = new acme.Client({ directoryUrl: h.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: await h.eabKey() });
    await c.createAccount({ termsOfServiceAgreed: true });
    const name = randomName('csr');
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: name }] });
    const [, otherCsr] = await acme.crypto.createCsr({ commonName: name, altNames: [name, randomName('extra')] });
    const bad = await c.finalizeOrder(order, otherCsr).catch((e: Error) => e);
    expect(String(bad)).toMatch(/not in the order/);
    const weakKey = await acme.crypto.createPrivateRsaKey(1024);
    const [, weakCsr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, weakKey);
    const weak = await raw.post(order.finalize, { csr: acme.crypto.getPemBodyAsB64u(weakCsr) }, { key: await accountKeyOf(c), kid: c.getAccountUrl() });
    problem(weak, 400, 'badPublicKey');
    problem(await raw.post(order.finalize, { csr: 'not*base64' }, { key: await accountKeyOf(c), kid: c.getAccountUrl() }), 400, 'malformed');
    problem(await raw.post(order.finalize, { csr: Buffer.from('garbage').toString('base64url') }, { key: await accountKeyOf(c), kid: c.getAccountUrl() }), 400, 'badCSR');

    const patterned = await h.addProfile({ mode: 'trust_authenticated', name: 'internal-only', patterns: ['.*\\.internal\\.test'] });
    const res = await raw.post(dir.newOrder, { profile: 'internal-only', identifiers: [{ type: 'dns', value: 'a.internal.test' }, { type: 'dns', value: 'b.example.com' }] }, { key, kid });
    problem(res, 400, 'rejectedIdentifier');
    expect(res.body.subproblems).toEqual([expect.objectContaining({ type: 'urn:ietf:params:acme:error:rejectedIdentifier', identifier: { type: 'dns', value: 'b.example.com' } })]);
    // The profile named in new-order (ACME profiles extension) is the one the order is placed on.
    const ok = await raw.post(dir.newOrder, { profile: 'internal-only', identifiers: [{ type: 'dns', value: 'a.internal.test' }] }, { key, kid });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    const { rows } = await h.p.db.query(`SELECT profile_id FROM acme_orders WHERE id = $1`, [ok.headers.get('location')!.split('/').pop()]);
    expect(rows[0].profile_id).toBe(patterned);
    problem(await raw.post(dir.newOrder, { profile: 'no-such-profile', identifiers: [{ type: 'dns', value: 'a.internal.test' }] }, { key, kid }), 400, 'malformed');
  });

  it('key-change to a key already in use: 409', async () => {
    const a = new acme.Client({ directoryUrl: h.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: await h.eabKey() });
    await a.createAccount({});
    const bKey = await acme.crypto.createPrivateEcdsaKey();
    const b = new acme.Client({ directoryUrl: h.directoryUrl, accountKey: bKey, externalAccountBinding: await h.eabKey() });
    await b.createAccount({});
    const err = await a.updateAccountKey(bKey).catch((e: Error & { response?: unknown }) => e);
    expect(String(err)).toMatch(/already in use/);
  });

  it('revoke-cert signed by the certificate\'s own key, then alreadyRevoked; the un-prefixed default-profile routes answer the same', async () => {
    const defaultDirectory = `${h.base}/acme/directory`;
    const d = await (await fetch(defaultDirectory)).json() as Record<string, string>;
    expect(d.newOrder).toBe(`${h.base}/acme/new-order`);
    const c = new acme.Client({ directoryUrl: defaultDirectory, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: await h.eabKey(), backoffMin: 50, backoffMax: 500 });
    const name = randomName('rev');
    const [certKey, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] });
    const pem = await c.auto({ csr, termsOfServiceAgreed: true, challengeCreateFn: async () => {}, challengeRemoveFn: async () => {} });
    expect(c.getAccountUrl()).toMatch(new RegExp(`^${h.base}/acme/account/acct-`));
    const leafPem = acme.crypto.splitPemChain(pem)[0]!;
    const der = new X509Certificate(leafPem).raw.toString('base64url');
    const signer: RawKey = { privateKey: await importPKCS8(certKey.toString(), 'RS256'), jwk: await exportJWK(await importPKCS8(certKey.toString(), 'RS256', { extractable: true })), alg: 'RS256' };
    // The JWK of a private key: keep only the public members.
    signer.jwk = { kty: signer.jwk.kty, n: signer.jwk.n, e: signer.jwk.e };
    const rawDefault = new RawAcme(defaultDirectory);
    const revoked = await rawDefault.post(d.revokeCert!, { certificate: der, reason: 1 }, { key: signer, jwk: true });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    const { rows } = await h.p.db.query(`SELECT c.status, c.revocation_reason FROM managed_certificates c JOIN certificate_versions v ON v.certificate_id = c.id WHERE v.fingerprint_sha256 ILIKE $1`,
      [new X509Certificate(leafPem).fingerprint256.replace(/:/g, '')]);
    expect(rows[0]).toEqual({ status: 'Revoked', revocation_reason: 'keyCompromise' });
    problem(await rawDefault.post(d.revokeCert!, { certificate: der }, { key: signer, jwk: true }), 400, 'alreadyRevoked');
  });

  it('revoke-cert by the ordering account (reason superseded); another account is unauthorized; a bad reason is badRevocationReason', async () => {
    const mk = async () => new acme.Client({ directoryUrl: h.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: await h.eabKey(), backoffMin: 50, backoffMax: 500 });
    const owner = await mk();
    const name = randomName('acctrev');
    const [, csr] = await acme.crypto.createCsr({ commonName: name });
    const pem = await owner.auto({ csr, termsOfServiceAgreed: true, challengeCreateFn: async () => {}, challengeRemoveFn: async () => {} });
    const leaf = acme.crypto.splitPemChain(pem)[0]!;
    const stranger = await mk();
    await stranger.createAccount({ termsOfServiceAgreed: true });
    await expect(stranger.revokeCertificate(leaf)).rejects.toThrow(/did not order/);
    const der = new X509Certificate(leaf).raw.toString('base64url');
    problem(await raw.post(dir.revokeCert, { certificate: der, reason: 7 }, { key: await accountKeyOf(owner), kid: owner.getAccountUrl() }), 400, 'badRevocationReason');
    await owner.revokeCertificate(leaf, { reason: 4 });
    const { rows } = await h.p.db.query(`SELECT c.status, c.revocation_reason FROM managed_certificates c JOIN certificate_versions v ON v.certificate_id = c.id WHERE v.serial_number = $1`,
      [new X509Certificate(leaf).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '')]);
    expect(rows[0]).toEqual({ status: 'Revoked', revocation_reason: 'superseded' });
  });

  it('rate limit: new orders past the hourly limit are rateLimited with Retry-After', async () => {
    const limited = await rawKey();
    const account = await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(await h.eabKey(), limited.jwk, dir.newAccount) }, { key: limited, jwk: true });
    const lkid = account.headers.get('location')!;
    for (let i = 0; i < ORDERS_PER_HOUR; i++) {
      expect((await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('rl') }] }, { key: limited, kid: lkid })).status).toBe(201);
    }
    const over = await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('rl') }] }, { key: limited, kid: lkid });
    problem(over, 429, 'rateLimited');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

async function accountKeyOf(c: acme.Client): Promise<RawKey> {
  const pem = (c as unknown as { opts: { accountKey: Buffer } }).opts.accountKey.toString();
  const privateKey = await importPKCS8(pem, 'ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { privateKey, jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, alg: 'ES256' };
}
