import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobProducer } from '@certctl/db';
import { queueJobId } from '@certctl/contracts';
import type { INestApplication } from '@nestjs/common';
import { createWorkerApp } from '@certctl/observability';
import { ORCHESTRATOR_FEATURES } from '../../apps/orchestrator/src/orchestrator.features';
import { ReconcilerService } from '../../apps/orchestrator/src/modules/scheduler/reconciler.service';
import { RawAcme, rawKey, randomName } from '../support/acme-raw';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';
import { Inventory, keyWithRole } from '../support/fixtures';
import { opensslIn } from '../support/pki-fixtures';
import type { PlatformHarness } from '../support/platform-harness';

/**
 * The ACME server in apps/responder (in this process, next to the api and the orchestrator, on this file's
 * database and Redis), driven by the acme-client npm package as a real ACME client: a `trust_authenticated`
 * profile issues to an EAB-bound account without challenges, the certificate is a managed certificate (source
 * ACME) in the REST API, and a revocation through the REST API shows in OCSP and moves the ARI window to now.
 */
describe('ACME server: trust_authenticated profile with acme-client', () => {
  let h: AcmeServerHarness;
  let p: PlatformHarness;
  let base: string;
  let inv: Inventory;
  let profileId: string;
  let directoryUrl: string;
  const dir = mkdtempSync(join(tmpdir(), 'acme-server-e2e-'));
  const openssl = opensslIn(dir);
  const eabKey = () => h.eabKey();

  async function client(eab?: { kid: string; hmacKey: string }): Promise<acme.Client> {
    return new acme.Client({
      directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: eab,
      backoffAttempts: 50, backoffMin: 50, backoffMax: 500,
    });
  }

  beforeAll(async () => {
    h = await startAcmeServer('trust_authenticated', { CERTCTL_ACME_SERVER_CAA_IDENTITIES: 'ca.example.test' });
    ({ p, base, inv, profileId, directoryUrl } = h);
    await p.http.put(`/api/v1/profiles/${profileId}`).set(p.auth()).send({ description: '90-day TLS server certificates' }).expect(200);
  });
  afterAll(async () => h?.close());

  it('serves the directory (profiles, EAB required, CAA identities, renewalInfo) and nonces by HEAD and GET', async () => {
    const res = await fetch(directoryUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('replay-nonce')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    const directory = await res.json() as Record<string, any>;
    const prefix = `${base}/acme/profile/${profileId}`;
    expect(directory).toMatchObject({
      newNonce: `${prefix}/new-nonce`, newAccount: `${prefix}/new-account`, newOrder: `${prefix}/new-order`, revokeCert: `${prefix}/revoke-cert`,
      keyChange: `${prefix}/key-change`, renewalInfo: `${prefix}/renewal-info`,
      meta: { externalAccountRequired: true, caaIdentities: ['ca.example.test'] },
    });
    expect(Object.values(directory.meta.profiles)).toContain('90-day TLS server certificates');
    const head = await fetch(directory.newNonce, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('cache-control')).toBe('no-store');
    const get = await fetch(directory.newNonce);
    expect(get.status).toBe(204);
    expect(get.headers.get('replay-nonce')).not.toBe(head.headers.get('replay-nonce'));
    expect((await fetch(`${base}/acme/profile/prof-nope/directory`)).status).toBe(404);
  });

  it('issues to an EAB-bound account without challenges: a managed certificate (source ACME, the key\'s team and owner), then REST revocation shows in OCSP and ARI', async () => {
    const c = await client(await eabKey());
    const names = [randomName('www'), randomName('api')];
    const [key, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
    void key;
    const pem = await c.auto({ csr, termsOfServiceAgreed: true, challengePriority: ['http-01'], challengeCreateFn: async () => {}, challengeRemoveFn: async () => {} });
    const chain = acme.crypto.splitPemChain(pem);
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const leaf = new X509Certificate(chain[0]!);
    const ca = new X509Certificate(chain[chain.length - 1]!);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toContain(`DNS:${names[0]}`);
    expect(leaf.subjectAltName).toContain(`DNS:${names[1]}`);

    const serial = leaf.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
    const { rows: [version] } = await p.db.query(`SELECT certificate_id FROM certificate_versions WHERE serial_number = $1`, [serial]);
    const cert = (await p.http.get(`/api/v1/certificates/${version.certificate_id}`).set(p.auth()).expect(200)).body;
    expect(cert).toMatchObject({ source: 'ACME', status: 'Active', owner_id: inv.ownerId, team_id: inv.teamId, issuer_id: inv.issuerId, certificate_profile_id: profileId });
    expect([...cert.sans].sort()).toEqual([...names].sort());

    // ARI (RFC 9773): the window lies ahead of a fresh certificate.
    const certId = `${Buffer.from(akiOf(leaf), 'hex').toString('base64url')}.${Buffer.from(serialBytes(leaf)).toString('base64url')}`;
    const ariUrl = `${base}/acme/profile/${profileId}/renewal-info/${certId}`;
    const before = await fetch(ariUrl);
    expect(before.status).toBe(200);
    expect(before.headers.get('retry-after')).toBe('21600');
    const window = (await before.json() as { suggestedWindow: { start: string; end: string } }).suggestedWindow;
    expect(new Date(window.start).getTime()).toBeGreaterThan(Date.now());

    writeFileSync(join(dir, 'leaf.pem'), chain[0]!);
    writeFileSync(join(dir, 'ca.pem'), chain[chain.length - 1]!);
    const ocsp = () => openssl(['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-url', `${base}/.well-known/pki/ocsp/${inv.issuerId}`, '-CAfile', 'ca.pem', '-no_nonce']);
    expect((await ocsp()).out).toContain('leaf.pem: good');

    await p.http.post(`/api/v1/certificates/${version.certificate_id}/revoke`).set(p.auth()).send({ reason: 'keyCompromise' }).expect(200);
    // The responder answers from its pre-signed cache, replaced on revocation: wait for the replacement.
    const deadline = Date.now() + 5000;
    let answer = (await ocsp()).out;
    while (!answer.includes('leaf.pem: revoked') && Date.now() < deadline) answer = (await ocsp()).out;
    expect(answer).toContain('leaf.pem: revoked');
    const after = (await (await fetch(ariUrl)).json() as { suggestedWindow: { start: string; end: string } }).suggestedWindow;
    expect(new Date(after.end).getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('refuses an account without EAB on a trust_authenticated profile (externalAccountRequired) and one with a wrong HMAC (unauthorized)', async () => {
    const noEab = await client();
    await expect(noEab.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/external account binding/);
    const good = await eabKey();
    const wrong = await client({ kid: good.kid, hmacKey: randomBytes(32).toString('base64url') });
    await expect(wrong.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/MAC does not verify/);
    const { rows } = await p.db.query(`SELECT account_id FROM acme_eab_keys WHERE id = $1`, [good.kid]);
    expect(rows[0].account_id).toBeNull();
  });

  it('accounts: onlyReturnExisting, contact update, key change, deactivation (then every request is unauthorized)', async () => {
    const eab = await eabKey();
    const c = await client(eab);
    const none = await client();
    await expect(none.createAccount({ onlyReturnExisting: true })).rejects.toThrow(/no account exists/);
    const created = await c.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.com'] });
    expect(created).toMatchObject({ status: 'valid', contact: ['mailto:ops@example.com'] });
    const url = c.getAccountUrl();
    expect(url).toMatch(new RegExp(`^${base}/acme/profile/${profileId}/account/acct-`));
    const again = await c.createAccount({ onlyReturnExisting: true });
    expect(again.status).toBe('valid');
    expect(c.getAccountUrl()).toBe(url);
    const updated = await c.updateAccount({ contact: ['mailto:sec@example.com'] });
    expect(updated.contact).toEqual(['mailto:sec@example.com']);

    const newKey = await acme.crypto.createPrivateRsaKey(2048);
    await c.updateAccountKey(newKey);
    const { rows } = await p.db.query(`SELECT jwk->>'kty' AS kty, team_id, owner_id, eab_key_id FROM acme_accounts WHERE id = $1`, [url.split('/').pop()]);
    expect(rows[0]).toEqual({ kty: 'RSA', team_id: inv.teamId, owner_id: inv.ownerId, eab_key_id: eab.kid });
    // Still the same account under the new key.
    expect((await c.createOrder({ identifiers: [{ type: 'dns', value: randomName('rotated') }] })).status).toBe('ready');

    const deactivated = await c.updateAccount({ status: 'deactivated' });
    expect(deactivated.status).toBe('deactivated');
    await expect(c.createOrder({ identifiers: [{ type: 'dns', value: randomName('gone') }] })).rejects.toThrow(/account is deactivated/);
  });

  it('orders: IP identifiers (RFC 8738), an IP sent as dns refused, badCSR for other names, order and authz reads, authz deactivation, cert download', async () => {
    const c = await client(await eabKey());
    await c.createAccount({ termsOfServiceAgreed: true });
    const ipOrder = await c.createOrder({ identifiers: [{ type: 'ip', value: '192.0.2.10' }, { type: 'ip', value: '2001:db8:0:0::1' }] });
    expect(ipOrder.identifiers).toEqual([{ type: 'ip', value: '192.0.2.10' }, { type: 'ip', value: '2001:db8::1' }]);
    const [, ipCsr] = await acme.crypto.createCsr({ altNames: ['192.0.2.10', '2001:db8::1'] });
    const finalized = await c.finalizeOrder(ipOrder, ipCsr);
    expect(['processing', 'valid']).toContain(finalized.status);
    const valid = await c.waitForValidStatus(finalized);
    const pem = await c.getCertificate(valid);
    expect(new X509Certificate(acme.crypto.splitPemChain(pem)[0]!).subjectAltName).toContain('IP Address:192.0.2.10');

    await expect(c.createOrder({ identifiers: [{ type: 'dns', value: '192.0.2.11' }] })).rejects.toThrow(/is an IP address/);

    const name = randomName('csr');
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: name }] });
    const [, otherCsr] = await acme.crypto.createCsr({ commonName: randomName('other'), altNames: [] });
    await expect(c.finalizeOrder(order, otherCsr)).rejects.toThrow(/exactly the order's identifiers/);
    expect((await c.getOrder(order)).status).toBe('ready');

    const [authz] = await c.getAuthorizations(order);
    expect(authz).toMatchObject({ identifier: { type: 'dns', value: name }, status: 'valid', challenges: [] });
    const gone = await c.deactivateAuthorization(authz!);
    expect(gone.status).toBe('deactivated');
  });

  it('EAB keys through the api: HMAC shown once and stored encrypted, listed, revoked (DELETE and POST …/revoke), refused once revoked; accounts and orders listed', async () => {
    const created = await p.http.post('/api/v1/acme/eab-keys').set(p.auth()).send({ profile_id: profileId, owner_id: inv.ownerId }).expect(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^eab-/), profile_id: profileId, owner_id: inv.ownerId, team_id: inv.teamId, status: 'active' });
    const hmac = created.body.hmac_key as string;
    expect(Buffer.from(hmac, 'base64url')).toHaveLength(32);
    const { rows: [stored] } = await p.db.query(`SELECT encrypted_hmac FROM acme_eab_keys WHERE id = $1`, [created.body.id]);
    expect(stored.encrypted_hmac.toString('latin1')).not.toContain(hmac);
    expect(stored.encrypted_hmac.includes(Buffer.from(hmac, 'base64url'))).toBe(false);
    const listed = await p.http.get(`/api/v1/acme/eab-keys?profile_id=${profileId}`).set(p.auth()).expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(hmac);
    expect(listed.body.data.map((k: { id: string }) => k.id)).toContain(created.body.id);

    // A bound key shows which account it made; orders and accounts are listed for the console.
    const c = await client({ kid: created.body.id, hmacKey: hmac });
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: randomName('listed') }] });
    const accountId = c.getAccountUrl().split('/').pop();
    expect((await p.http.get('/api/v1/acme/eab-keys').set(p.auth()).expect(200)).body.data.find((k: { id: string }) => k.id === created.body.id))
      .toMatchObject({ status: 'bound', account_id: accountId });
    const accounts = await p.http.get(`/api/v1/acme/accounts?profile_id=${profileId}`).set(p.auth()).expect(200);
    expect(accounts.body.data.find((a: { id: string }) => a.id === accountId)).toMatchObject({ status: 'valid', eab_key_id: created.body.id, owner_id: inv.ownerId });
    const orders = await p.http.get(`/api/v1/acme/orders?account_id=${accountId}`).set(p.auth()).expect(200);
    expect(orders.body).toMatchObject({ total: 1, data: [{ status: 'ready', identifiers: order.identifiers, authorizations: [{ status: 'valid' }] }] });

    const second = await p.http.post('/api/v1/acme/eab-keys').set(p.auth()).send({ profile_id: profileId, owner_id: inv.ownerId }).expect(201);
    expect((await p.http.delete(`/api/v1/acme/eab-keys/${second.body.id}`).set(p.auth()).expect(200)).body.status).toBe('revoked');
    expect((await p.http.post(`/api/v1/acme/eab-keys/${second.body.id}/revoke`).set(p.auth())).status).toBe(409);
    const third = await p.http.post('/api/v1/acme/eab-keys').set(p.auth()).send({ profile_id: profileId, owner_id: inv.ownerId }).expect(201);
    expect((await p.http.post(`/api/v1/acme/eab-keys/${third.body.id}/revoke`).set(p.auth()).expect(200)).body.status).toBe('revoked');
    await expect((await client({ kid: third.body.id, hmacKey: third.body.hmac_key })).createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/is revoked/);
    expect((await p.http.delete('/api/v1/acme/eab-keys/eab-nope').set(p.auth())).status).toBe(404);

    // Bad input: the field named; a profile not served over ACME; viewers may list but not create.
    const noOwner = await p.http.post('/api/v1/acme/eab-keys').set(p.auth()).send({ profile_id: profileId });
    expect(noOwner.status).toBe(400);
    expect(noOwner.body.details.map((d: { field: string }) => d.field)).toContain('owner_id');
    const unknown = await p.http.post('/api/v1/acme/eab-keys').set(p.auth()).send({ profile_id: 'prof-nope', owner_id: inv.ownerId });
    expect(unknown.status).toBe(400);
    expect(unknown.body.details[0].field).toBe('profile_id');
    const plain = await p.http.post('/api/v1/profiles').set(p.auth()).send({ name: `plain-${Date.now()}` }).expect(201);
    expect((await p.http.post('/api/v1/acme/eab-keys').set(p.auth()).send({ profile_id: plain.body.id, owner_id: inv.ownerId })).status).toBe(400);
    const viewer = await keyWithRole(p, 'viewer');
    expect((await p.http.post('/api/v1/acme/eab-keys').set(p.auth(viewer)).send({ profile_id: profileId, owner_id: inv.ownerId })).status).toBe(403);
    expect((await p.http.get('/api/v1/acme/eab-keys').set(p.auth(viewer))).status).toBe(200);
    const badIssuer = await p.http.post('/api/v1/profiles').set(p.auth()).send({ name: `bad-${Date.now()}`, acme_issuer_id: 'iss-nope' });
    expect(badIssuer.status).toBe(400);
  });

  it('orders and authorizations past their expiry are made invalid/expired by the reconcile sweep; finalizing one is orderNotReady', async () => {
    const c = await client(await eabKey());
    await c.createAccount({ termsOfServiceAgreed: true });
    const order = await c.createOrder({ identifiers: [{ type: 'dns', value: randomName('expiring') }] });
    const orderId = order.url.split('/').pop();
    await p.db.query(`UPDATE acme_orders SET expires_at = now() - interval '1 second' WHERE id = $1`, [orderId]);
    await p.db.query(`UPDATE acme_authorizations SET status = 'pending', expires_at = now() - interval '1 second' WHERE order_id = $1`, [orderId]);
    await p.orchestrator.get(ReconcilerService).reconcile();
    const { rows: [row] } = await p.db.query(`SELECT o.status, o.error->>'detail' AS detail, a.status AS authz FROM acme_orders o JOIN acme_authorizations a ON a.order_id = o.id WHERE o.id = $1`, [orderId]);
    expect(row).toEqual({ status: 'invalid', detail: 'the order expired before it was finalized', authz: 'expired' });
    const [, csr] = await acme.crypto.createCsr({ commonName: order.identifiers[0]!.value });
    await expect(c.finalizeOrder(order, csr)).rejects.toThrow(/order is invalid, not ready/);
  });

  it('finalize while the orchestrator is not signing: the order says processing with Retry-After; the queue job lost, the reconciler re-queues it and the order ends valid', async () => {
    // The orchestrator is down (as after a crash) while the client finalizes.
    await p.orchestrator.close();
    let restarted: INestApplication | undefined;
    try {
      const raw = new RawAcme(directoryUrl);
      const d = await raw.directory();
      const key = await rawKey('ES256');
      const eab = await eabKey();
      const { FlattenedSign } = await import('jose');
      const binding = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(key.jwk))).setProtectedHeader({ alg: 'HS256', kid: eab.kid, url: d.newAccount }).sign(Buffer.from(eab.hmacKey, 'base64url'));
      const kid = (await raw.post(d.newAccount, { externalAccountBinding: binding }, { key, jwk: true })).headers.get('location')!;
      const name = randomName('crash');
      const order = await raw.post(d.newOrder, { identifiers: [{ type: 'dns', value: name }] }, { key, kid });
      const [, csr] = await acme.crypto.createCsr({ commonName: name });
      const finalized = await raw.post(order.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(csr) }, { key, kid });
      expect(finalized.body.status).toBe('processing');
      expect(finalized.headers.get('retry-after')).toBe('1');
      const orderUrl = order.headers.get('location')!;
      const polled = await raw.post(orderUrl, '', { key, kid });
      expect(polled.body.status).toBe('processing');
      expect(polled.headers.get('retry-after')).toBe('1');

      // Redis loses the queue job (a flush, a crash between commit and enqueue): the job row is still Pending.
      const { rows: [row] } = await p.db.query(`SELECT job_id FROM acme_orders WHERE id = $1`, [orderUrl.split('/').pop()]);
      await (await p.app.get(JobProducer).queue('issuance').getJob(queueJobId('csr.sign', row.job_id)))?.remove();
      restarted = await createWorkerApp('orchestrator', ORCHESTRATOR_FEATURES);
      await restarted.init();
      expect(await restarted.get(ReconcilerService).reconcile(0)).toBeGreaterThanOrEqual(1);
      await p.waitForJob(row.job_id, ['Completed']);
      const done = await raw.post(orderUrl, '', { key, kid });
      expect(done.body).toMatchObject({ status: 'valid', certificate: expect.stringContaining('/cert/certver-') });
      const cert = await raw.post(done.body.certificate, '', { key, kid });
      expect(cert.headers.get('content-type')).toContain('application/pem-certificate-chain');
      expect(new X509Certificate(acme.crypto.splitPemChain(cert.body)[0]!).subjectAltName).toBe(`DNS:${name}`);
    } finally {
      // The harness closes the first orchestrator again at the end; the restarted one takes its place meanwhile.
      if (restarted) p.orchestrator = restarted;
    }
  });
});

function akiOf(cert: X509Certificate): string {
  // node:crypto does not parse extensions; read the AKI from the DER (after the 2.5.29.35 OID: OCTET STRING → SEQUENCE → [0]).
  const der = cert.raw;
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);
  const at = der.indexOf(oid);
  const rest = der.subarray(at + oid.length);
  const start = rest.indexOf(0x80);
  const len = rest[start + 1]!;
  return rest.subarray(start + 2, start + 2 + len).toString('hex');
}

function serialBytes(cert: X509Certificate): Buffer {
  const hex = cert.serialNumber.length % 2 ? `0${cert.serialNumber}` : cert.serialNumber;
  const bytes = Buffer.from(hex, 'hex');
  // DER INTEGER: a leading 0x00 keeps a high-bit serial positive (RFC 9773 uses the DER content bytes).
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}
