import { webcrypto, X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import { exportJWK, importPKCS8, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EKU_OIDS, x509 } from '@certctl/pki';
import { Bind9, bind9Missing, startBind9 } from '@certctl/testing';
import { RawAcme, rawKey, RawKey, randomName } from '../support/acme-raw';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';

const missing = bind9Missing();
if (missing && process.env.CI !== 'true') console.warn(`[acme-server-issuance] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;
const OUR_CAA = 'certctl.example.test';

/**
 * Issuing without challenges (trust_authenticated) on a real responder, orchestrator and Local CA, with a real
 * BIND9 as the DNS resolver for CAA: the alternate chain of cert/{id}, finalize held to the certificate profile
 * (key algorithms, EKUs, max TTL) and to CAA, a renewal as a new version of the same certificate, revocation with
 * its audit event and notification, POST-as-GET reads, and Ed25519 / ES384 account keys signing raw JWS.
 */
suite('ACME server: issuance held to the profile and CAA, renewals, revocation records', () => {
  let h: AcmeServerHarness;
  let bind: Bind9;
  let raw: RawAcme;
  let dir: Record<string, any>;

  const client = async (profileId = h.profileId) => new acme.Client({
    directoryUrl: `${h.base}/acme/profile/${profileId}/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey(),
    externalAccountBinding: await h.eabKey({ profileId }), backoffAttempts: 60, backoffMin: 50, backoffMax: 500,
  });
  const issue = async (c: acme.Client, names: string[], csr?: Buffer | string) => c.auto({
    csr: csr ?? (await acme.crypto.createCsr({ commonName: names[0]!, altNames: names }))[1],
    termsOfServiceAgreed: true, challengeCreateFn: async () => {}, challengeRemoveFn: async () => {},
  });
  const serialOf = (pem: string) => new X509Certificate(acme.crypto.splitPemChain(pem)[0]!).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
  const certIdOf = async (pem: string) => (await h.p.db.query(`SELECT certificate_id FROM certificate_versions WHERE serial_number = $1`, [serialOf(pem)])).rows[0].certificate_id as string;
  const accountKeyOf = async (c: acme.Client): Promise<RawKey> => {
    const pem = (c as unknown as { opts: { accountKey: Buffer } }).opts.accountKey.toString();
    const jwk = await exportJWK(await importPKCS8(pem, 'ES256', { extractable: true }));
    return { privateKey: await importPKCS8(pem, 'ES256'), jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, alg: 'ES256' };
  };
  /** A CSR with an extended key usage extension (acme-client cannot add one). */
  const csrWithEku = async (name: string, ekuOids: string[]) => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${name}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }]), new x509.ExtendedKeyUsageExtension(ekuOids)],
    });
    return csr.toString('pem');
  };
  const finalizeProblem = async (c: acme.Client, names: string[], csr: string | Buffer) => {
    const order = await c.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })) });
    const res = await raw.post(order.finalize, { csr: acme.crypto.getPemBodyAsB64u(csr) }, { key: await accountKeyOf(c), kid: c.getAccountUrl() });
    return { res, order };
  };

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and BIND9 cannot run: ${missing}`);
    bind = await startBind9({
      records: [
        'blocked 60 IN CAA 0 issue "other-ca.example"',
        `allowed 60 IN CAA 0 issue "${OUR_CAA}"`,
        `methods 60 IN CAA 0 issue "${OUR_CAA}; validationmethods=http-01"`,
      ],
    });
    h = await startAcmeServer('trust_authenticated', { CERTCTL_ACME_SERVER_DNS_RESOLVER: bind.address, CERTCTL_ACME_SERVER_CAA_IDENTITIES: OUR_CAA });
    raw = new RawAcme(h.directoryUrl);
    dir = await raw.directory();
  });
  afterAll(async () => {
    await h?.close();
    await bind?.stop();
  });

  it('cert/{id}: the chain to the root, and the chain without the root as rel="alternate" (each links the other); no third chain', async () => {
    const c = await client();
    const name = randomName('chain');
    await issue(c, [name]);
    const [order] = (await h.p.db.query(`SELECT certificate_version_id FROM acme_orders WHERE account_id = $1 AND status = 'valid'`, [c.getAccountUrl().split('/').pop()])).rows;
    const certUrl = `${h.base}/acme/profile/${h.profileId}/cert/${order.certificate_version_id}`;
    const key = await accountKeyOf(c);
    const full = await raw.post(certUrl, '', { key, kid: c.getAccountUrl() });
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toContain('application/pem-certificate-chain');
    const fullChain = acme.crypto.splitPemChain(full.body as string);
    expect(fullChain).toHaveLength(2);
    const root = new X509Certificate(fullChain[1]!);
    expect(root.checkIssued(root)).toBe(true);
    const links = full.headers.get('link')!;
    expect(links).toContain(`<${h.base}/acme/profile/${h.profileId}/directory>;rel="index"`);
    expect(links).toContain(`<${certUrl}/1>;rel="alternate"`);

    const alternate = await raw.post(`${certUrl}/1`, '', { key, kid: c.getAccountUrl() });
    expect(alternate.status).toBe(200);
    expect(acme.crypto.splitPemChain(alternate.body as string)).toEqual([fullChain[0]]);
    expect(alternate.headers.get('link')).toContain(`<${certUrl}>;rel="alternate"`);
    const none = await raw.post(`${certUrl}/2`, '', { key, kid: c.getAccountUrl() });
    expect(none.status).toBe(404);
    expect(none.body.type).toBe('urn:ietf:params:acme:error:malformed');
  });

  it('finalize against the profile: a key algorithm it forbids and an EKU outside it are badCSR; its EKU is fine; notAfter is capped at its max TTL', async () => {
    const profileId = await h.addProfile({
      mode: 'trust_authenticated', name: 'ec-only-1h',
      extra: { allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }], allowed_ekus: ['serverAuth'], max_ttl_seconds: 3600 },
    });
    const c = await client(profileId);
    await c.createAccount({ termsOfServiceAgreed: true });
    raw = new RawAcme(`${h.base}/acme/profile/${profileId}/directory`);
    try {
      const rsaName = randomName('rsa');
      const [, rsaCsr] = await acme.crypto.createCsr({ commonName: rsaName, altNames: [rsaName] }, await acme.crypto.createPrivateRsaKey(2048));
      const rsa = await finalizeProblem(c, [rsaName], rsaCsr);
      expect(rsa.res.status, JSON.stringify(rsa.res.body)).toBe(400);
      expect(rsa.res.body).toMatchObject({ type: 'urn:ietf:params:acme:error:badCSR' });
      expect(rsa.res.body.detail).toMatch(/RSA 2048 is not allowed by the profile \(ECDSA ≥ 256\)/);

      const ekuName = randomName('eku');
      const eku = await finalizeProblem(c, [ekuName], await csrWithEku(ekuName, [EKU_OIDS.serverAuth!, EKU_OIDS.clientAuth!]));
      expect(eku.res.status, JSON.stringify(eku.res.body)).toBe(400);
      expect(eku.res.body).toMatchObject({ type: 'urn:ietf:params:acme:error:badCSR' });
      expect(eku.res.body.detail).toMatch(/extended key usage clientAuth, outside the profile's \(serverAuth\)/);
      // Refused before anything was written: the order is still ready to finalize with a good CSR.
      expect((await c.getOrder(eku.order)).status).toBe('ready');

      const okName = randomName('ok');
      const pem = await issue(c, [okName], await csrWithEku(okName, [EKU_OIDS.serverAuth!]));
      const leaf = new X509Certificate(acme.crypto.splitPemChain(pem)[0]!);
      const lifetime = new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime();
      expect(lifetime).toBeLessThanOrEqual((3600 + 60) * 1000);
      expect(lifetime).toBeGreaterThan(3000 * 1000);
    } finally {
      raw = new RawAcme(h.directoryUrl);
    }
  });

  it('CAA without challenges: another CA in CAA fails the order with caa (subproblem per name); validationmethods names no method of ours; our CA in CAA issues, for the account accounturi names only', async () => {
    const c = await client();
    await c.createAccount({ termsOfServiceAgreed: true });
    const blocked = `blocked.${bind.zone}`;
    const free = randomName('free');
    const names = [free, blocked];
    const [, csr] = await acme.crypto.createCsr({ commonName: free, altNames: names });
    const { res, order } = await finalizeProblem(c, names, csr);
    expect(res.status, JSON.stringify(res.body)).toBe(403);
    expect(res.body).toMatchObject({ type: 'urn:ietf:params:acme:error:caa' });
    expect(res.body.subproblems).toEqual([expect.objectContaining({
      type: 'urn:ietf:params:acme:error:caa', identifier: { type: 'dns', value: blocked }, detail: expect.stringContaining('other-ca.example'),
    })]);
    const after = await c.getOrder(order);
    expect(after.status).toBe('invalid');
    expect((after as unknown as { error: { type: string } }).error.type).toBe('urn:ietf:params:acme:error:caa');
    const { rows } = await h.p.db.query(`SELECT count(*)::int AS n FROM jobs WHERE requested_by = $1`, [`acme:${c.getAccountUrl().split('/').pop()}`]);
    expect(rows[0].n).toBe(0);

    const [, methodsCsr] = await acme.crypto.createCsr({ commonName: `methods.${bind.zone}` });
    expect((await finalizeProblem(c, [`methods.${bind.zone}`], methodsCsr)).res.body.type).toBe('urn:ietf:params:acme:error:caa');

    const pem = await issue(c, [`allowed.${bind.zone}`]);
    expect(new X509Certificate(acme.crypto.splitPemChain(pem)[0]!).subjectAltName).toBe(`DNS:allowed.${bind.zone}`);

    // RFC 8657 accounturi: only the account the record names.
    const pinned = `pinned.${bind.zone}`;
    await bind.addRecord(pinned, 'CAA', `0 issue "${OUR_CAA}; accounturi=${c.getAccountUrl()}"`);
    expect(new X509Certificate(acme.crypto.splitPemChain(await issue(c, [pinned]))[0]!).subjectAltName).toBe(`DNS:${pinned}`);
    const stranger = await client();
    await stranger.createAccount({ termsOfServiceAgreed: true });
    const [, pinnedCsr] = await acme.crypto.createCsr({ commonName: pinned });
    expect((await finalizeProblem(stranger, [pinned], pinnedCsr)).res.body.type).toBe('urn:ietf:params:acme:error:caa');
  });

  it('a renewal without "replaces" (same account and names) is a new version of the same managed certificate; another account or other names get their own', async () => {
    const c = await client();
    const names = [randomName('renew-a'), randomName('renew-b')];
    const first = await issue(c, names);
    const certId = await certIdOf(first);
    const second = await issue(c, [...names].reverse());
    expect(serialOf(second)).not.toBe(serialOf(first));
    expect(await certIdOf(second)).toBe(certId);
    const versions = await h.p.db.query(`SELECT count(*)::int AS n FROM certificate_versions WHERE certificate_id = $1`, [certId]);
    expect(versions.rows[0].n).toBe(2);
    const jobs = await h.p.db.query(`SELECT type FROM jobs WHERE certificate_id = $1 ORDER BY created_at`, [certId]);
    expect(jobs.rows.map((r) => r.type)).toEqual(['Issuance', 'Renewal']);
    const api = (await h.p.http.get(`/api/v1/certificates/${certId}`).set(h.p.auth()).expect(200)).body;
    expect(api).toMatchObject({ status: 'Active', source: 'ACME' });
    // Another account's order for the same names is its own certificate.
    const stranger = await client();
    expect(await certIdOf(await issue(stranger, names))).not.toBe(certId);
    // A subset of the names is another certificate too.
    expect(await certIdOf(await issue(c, [names[0]!]))).not.toBe(certId);
  });

  it('revoke-cert writes the audit event and the Revocation notification a REST revocation writes; an old version of a renewed certificate is revoked alone', async () => {
    const c = await client();
    const names = [randomName('rev-audit')];
    const [oldKey, oldCsr] = await acme.crypto.createCsr({ commonName: names[0]!, altNames: names });
    const oldPem = await issue(c, names, oldCsr);
    const certId = await certIdOf(oldPem);
    const newPem = await issue(c, names);
    expect(await certIdOf(newPem)).toBe(certId);

    // The old version, by its own key: the certificate stays Active (its current version is another).
    const oldLeaf = acme.crypto.splitPemChain(oldPem)[0]!;
    const signer: RawKey = { privateKey: await importPKCS8(oldKey.toString(), 'RS256'), jwk: {} as JWK, alg: 'RS256' };
    const full = await exportJWK(await importPKCS8(oldKey.toString(), 'RS256', { extractable: true }));
    signer.jwk = { kty: full.kty, n: full.n, e: full.e };
    const byKey = await raw.post(dir.revokeCert, { certificate: new X509Certificate(oldLeaf).raw.toString('base64url'), reason: 1 }, { key: signer, jwk: true });
    expect(byKey.status, JSON.stringify(byKey.body)).toBe(200);
    expect((await h.p.http.get(`/api/v1/certificates/${certId}`).set(h.p.auth()).expect(200)).body.status).toBe('Active');

    // The current version, by the account: the certificate turns Revoked.
    await c.revokeCertificate(acme.crypto.splitPemChain(newPem)[0]!, { reason: 4 });
    expect((await h.p.http.get(`/api/v1/certificates/${certId}`).set(h.p.auth()).expect(200)).body).toMatchObject({ status: 'Revoked', revocation_reason: 'superseded' });

    const audits = await h.p.db.query(
      `SELECT actor, actor_type, details FROM audit_events WHERE action = 'certificate_revoked' AND resource_type = 'certificate' AND resource_id = $1 ORDER BY seq`, [certId],
    );
    const accountId = c.getAccountUrl().split('/').pop();
    expect(audits.rows).toEqual([
      expect.objectContaining({ actor: 'acme:certificate-key', actor_type: 'Anonymous', details: expect.objectContaining({ via: 'acme', signed_by: 'certificate_key', reason: 'keyCompromise', serials: [serialOf(oldPem)], current_version: false }) }),
      expect.objectContaining({ actor: `acme:${accountId}`, details: expect.objectContaining({ via: 'acme', signed_by: 'account', acme_account: accountId, reason: 'superseded', serials: [serialOf(newPem)], current_version: true }) }),
    ]);
    const notifications = await h.p.db.query(`SELECT message FROM notification_events WHERE type = 'Revocation' AND certificate_id = $1 ORDER BY created_at`, [certId]);
    expect(notifications.rows.length).toBeGreaterThanOrEqual(2);
    expect(notifications.rows.map((r) => r.message).join('\n')).toMatch(/revoked through ACME: keyCompromise[\s\S]*revoked through ACME: superseded/);
    const revocations = await h.p.db.query(`SELECT serial_number, revoked_by FROM certificate_revocations WHERE certificate_id = $1 ORDER BY revoked_at`, [certId]);
    expect(revocations.rows).toEqual([{ serial_number: serialOf(oldPem), revoked_by: 'acme:certificate-key' }, { serial_number: serialOf(newPem), revoked_by: `acme:${accountId}` }]);
  });

  for (const alg of ['EdDSA', 'ES384'] as const) {
    it(`${alg} account key: raw JWS through new-account, new-order, POST-as-GET of the orders list, the order and the authorization, finalize and download`, async () => {
      const key = await rawKey(alg);
      const eab = await h.eabKey();
      const { FlattenedSign } = await import('jose');
      const binding = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(key.jwk)))
        .setProtectedHeader({ alg: 'HS256', kid: eab.kid, url: dir.newAccount }).sign(Buffer.from(eab.hmacKey, 'base64url'));
      const account = await raw.post(dir.newAccount, { termsOfServiceAgreed: true, externalAccountBinding: binding }, { key, jwk: true });
      expect(account.status, JSON.stringify(account.body)).toBe(201);
      const kid = account.headers.get('location')!;
      expect(account.body.orders).toBe(`${kid}/orders`);
      const stored = await h.p.db.query(`SELECT jwk->>'kty' AS kty, jwk->>'crv' AS crv FROM acme_accounts WHERE id = $1`, [kid.split('/').pop()]);
      expect(stored.rows[0]).toEqual(alg === 'EdDSA' ? { kty: 'OKP', crv: 'Ed25519' } : { kty: 'EC', crv: 'P-384' });

      const name = randomName(alg.toLowerCase());
      const created = await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: name }] }, { key, kid });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const orderUrl = created.headers.get('location')!;

      // POST-as-GET (empty payload): the orders list, the order, its authorization.
      const list = await raw.post(account.body.orders, '', { key, kid });
      expect(list.status).toBe(200);
      expect(list.body.orders).toEqual([orderUrl]);
      const read = await raw.post(orderUrl, '', { key, kid });
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ status: 'ready', identifiers: [{ type: 'dns', value: name }], finalize: created.body.finalize });
      const authz = await raw.post(read.body.authorizations[0], '', { key, kid });
      expect(authz.status).toBe(200);
      expect(authz.body).toMatchObject({ status: 'valid', identifier: { type: 'dns', value: name } });

      const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] });
      const finalized = await raw.post(created.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(csr) }, { key, kid });
      expect(finalized.status, JSON.stringify(finalized.body)).toBe(200);
      let order = finalized.body;
      const deadline = Date.now() + 20_000;
      while (order.status !== 'valid' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        order = (await raw.post(orderUrl, '', { key, kid })).body;
      }
      expect(order.status).toBe('valid');
      const cert = await raw.post(order.certificate, '', { key, kid });
      expect(cert.status).toBe(200);
      expect(new X509Certificate(acme.crypto.splitPemChain(cert.body as string)[0]!).subjectAltName).toBe(`DNS:${name}`);
    });
  }
});
