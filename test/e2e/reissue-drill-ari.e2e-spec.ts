import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../support/acme-raw';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';
import { certificateBody, createInventory, post } from '../support/fixtures';
import { waitFor } from '../support/notifier-peers';
import { opensslIn } from '../support/pki-fixtures';
import type { PlatformHarness } from '../support/platform-harness';

/**
 * A mass re-issue drill of an issuer that also signs for ACME clients of our ACME server (apps/responder, in this
 * process, as the ACME server e2e tests run it), with acme-client as the client. The server cannot re-issue a
 * certificate whose key the client holds, so the drill opens no Renewal job for it: it opens its ARI window
 * (renewal-info answers "now"), the client renews with `replaces`, the drill counts it issued, and revokes the old
 * serial only once the client downloaded the new certificate (openssl OCSP and the CRL say revoked).
 */
describe('re-issue drill of ACME-client certificates through ARI (RFC 9773)', () => {
  let h: AcmeServerHarness;
  let p: PlatformHarness;
  const dir = mkdtempSync(join(tmpdir(), 'reissue-ari-e2e-'));
  const openssl = opensslIn(dir);
  const explanation = 'https://ops.example.test/why-renew-now';

  beforeAll(async () => {
    h = await startAcmeServer('trust_authenticated', {
      CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL: '250ms', CERTCTL_ACME_SERVER_RENEW_EARLY_EXPLANATION_URL: explanation,
    });
    p = h.p;
  });
  afterAll(async () => h?.close());

  async function acmeClient(): Promise<acme.Client> {
    const c = new acme.Client({
      directoryUrl: h.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: await h.eabKey(),
      backoffAttempts: 50, backoffMin: 50, backoffMax: 500,
    });
    await c.createAccount({ termsOfServiceAgreed: true });
    return c;
  }

  /** Orders and finalizes a certificate for `names` (`replaces` as given), without downloading it. */
  async function order(c: acme.Client, names: string[], replaces?: string): Promise<{ order: acme.Order }> {
    const created = await c.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })), ...(replaces ? { replaces } : {}) } as OrderRequest);
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
    const valid = await c.waitForValidStatus(await c.finalizeOrder(created, csr));
    return { order: valid };
  }
  const download = async (c: acme.Client, o: acme.Order) => new X509Certificate(acme.crypto.splitPemChain(await c.getCertificate(o))[0]!);
  const issue = async (c: acme.Client, names: string[]) => download(c, (await order(c, names)).order);

  const serialOf = (leaf: X509Certificate) => leaf.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
  const ariId = (leaf: X509Certificate) => `${Buffer.from(akiOf(leaf), 'hex').toString('base64url')}.${serialBytes(leaf).toString('base64url')}`;
  const certIdOf = async (leaf: X509Certificate) =>
    (await p.db.query(`SELECT certificate_id FROM certificate_versions WHERE serial_number = $1`, [serialOf(leaf)])).rows[0].certificate_id as string;
  async function ari(leaf: X509Certificate) {
    const res = await fetch(`${h.base}/acme/profile/${h.profileId}/renewal-info/${ariId(leaf)}`);
    expect(res.status).toBe(200);
    const body = await res.json() as { suggestedWindow: { start: string; end: string }; explanationURL?: string };
    return { start: new Date(body.suggestedWindow.start).getTime(), end: new Date(body.suggestedWindow.end).getTime(), explanationURL: body.explanationURL, retryAfter: res.headers.get('retry-after') };
  }
  async function ocsp(leaf: X509Certificate): Promise<string | undefined> {
    writeFileSync(join(dir, 'leaf.pem'), leaf.toString());
    const r = await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-url', `${h.base}/.well-known/pki/ocsp/${h.inv.issuerId}`, '-CAfile', 'ca.pem', '-no_nonce']);
    return /leaf\.pem: (good|revoked|unknown)/.exec(r.out)?.[1];
  }
  async function crlSerials(): Promise<string> {
    const res = await fetch(`${h.base}/.well-known/pki/crl/${h.inv.issuerId}`);
    expect(res.status).toBe(200);
    writeFileSync(join(dir, 'crl.der'), Buffer.from(await res.arrayBuffer()));
    return (await openssl(['crl', '-inform', 'DER', '-in', 'crl.der', '-noout', '-text'])).out.replace(/:/g, '').toLowerCase();
  }
  const drill = async (drillId: string) => (await p.http.get(`/api/v1/issuers/${h.inv.issuerId}/reissue/${drillId}`).set(p.auth()).expect(200)).body;
  const itemState = async (drillId: string, certId: string) =>
    (await p.db.query(`SELECT state FROM reissue_drill_items WHERE drill_id = $1 AND certificate_id = $2`, [drillId, certId])).rows[0]?.state as string;

  it('opens no Renewal job for an ACME-client certificate: its ARI window moves to now, the client renews with replaces, and the old serial is revoked once downloaded', async () => {
    const c = await acmeClient();
    const names = [randomName('ari'), randomName('ari-api')];
    const oldLeaf = await issue(c, names);
    const acmeCertId = await certIdOf(oldLeaf);
    // The CA certificate for openssl: the last of the chain the ACME server serves.
    const chain = (await p.db.query(`SELECT pem_chain FROM certificate_versions WHERE certificate_id = $1`, [acmeCertId])).rows[0].pem_chain as string;
    writeFileSync(join(dir, 'ca.pem'), acme.crypto.splitPemChain(chain).pop()!);

    // A certificate the server holds the key of, on the same issuer: the drill re-issues that one itself.
    const serverCert = (await post(p, '/api/v1/certificates', certificateBody(h.inv))).id as string;
    const first = await p.http.post(`/api/v1/certificates/${serverCert}/renew`).set(p.auth()).send({}).expect(202);
    expect((await p.waitForJob(first.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');

    const before = await ari(oldLeaf);
    expect(before.start).toBeGreaterThan(Date.now());
    expect(before.explanationURL).toBeUndefined();

    const dry = (await p.http.post(`/api/v1/issuers/${h.inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'CA drill', dry_run: true }).expect(200)).body;
    expect(dry.total).toBe(2);
    expect(dry.certificates.map((x: { certificate_id: string }) => x.certificate_id)).toEqual([serverCert]);
    expect(dry.renewed_by_acme_clients).toEqual([expect.objectContaining({ certificate_id: acmeCertId, serial_number: serialOf(oldLeaf) })]);
    expect((await ari(oldLeaf)).start).toBe(before.start); // a dry run moves nothing

    const res = await p.http.post(`/api/v1/issuers/${h.inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'CA key ceremony drill', revocation_reason: 'superseded' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ total: 2, jobs_opened: 1, ari_requested: 1, revoke_old: true, status: 'running' });
    const drillId = res.body.drill_id as string;
    const renewals = await p.db.query(`SELECT count(*)::int AS n FROM jobs WHERE certificate_id = $1 AND type = 'Renewal'`, [acmeCertId]);
    expect(renewals.rows[0].n).toBe(0);

    // RFC 9773: a window already open (start <= now < end), with the operator's explanation.
    const now = await ari(oldLeaf);
    expect(now.start).toBeLessThanOrEqual(Date.now());
    expect(now.end).toBeGreaterThan(Date.now());
    expect(now.explanationURL).toBe(explanation);
    expect(now.retryAfter).toBe('300');

    // The server-held certificate goes through alone; the ACME one waits for its client.
    await waitFor('the server certificate re-issued and its old serial revoked', async () => (await itemState(drillId, serverCert)) === 'revoked', 60_000);
    expect(await itemState(drillId, acmeCertId)).toBe('pending');
    expect(await drill(drillId)).toMatchObject({ status: 'running', ari_requested: 1, issued: 1, revoked: 1 });

    // The client renews, naming the certificate it replaces; a second order replacing it too is refused.
    const renewal = await order(c, names, ariId(oldLeaf));
    await expect(c.createOrder({ identifiers: names.map((value) => ({ type: 'dns', value })), replaces: ariId(oldLeaf) } as OrderRequest))
      .rejects.toThrow(/already replaced/);
    await waitFor('the client\'s renewal counted issued', async () => (await itemState(drillId, acmeCertId)) === 'issued', 30_000);
    expect((await drill(drillId)).issued).toBe(2);
    // Not downloaded yet: the old serial stays good.
    expect(await ocsp(oldLeaf)).toBe('good');

    const newLeaf = await download(c, renewal.order);
    expect(serialOf(newLeaf)).not.toBe(serialOf(oldLeaf));
    await waitFor('the drill completed', async () => (await drill(drillId)).status === 'completed', 30_000);
    // verified counts proofs of use: the client's download here (the target-less server certificate has none to prove).
    expect(await drill(drillId)).toMatchObject({ total: 2, ari_requested: 1, issued: 2, verified: 1, revoked: 2, failed: 0 });
    expect(await itemState(drillId, acmeCertId)).toBe('revoked');

    await waitFor('OCSP answers revoked for the old ACME serial', async () => (await ocsp(oldLeaf)) === 'revoked', 10_000);
    expect(await ocsp(newLeaf)).toBe('good');
    expect(await crlSerials()).toContain(serialOf(oldLeaf));
    expect((await p.http.get(`/api/v1/certificates/${acmeCertId}`).set(p.auth()).expect(200)).body).toMatchObject({ status: 'Revoked' });
    expect((await p.http.get(`/api/v1/certificates/${await certIdOf(newLeaf)}`).set(p.auth()).expect(200)).body).toMatchObject({ status: 'Active', source: 'ACME' });
    // The new certificate's window lies ahead again.
    expect((await ari(newLeaf)).start).toBeGreaterThan(Date.now());
  });

  it('renew early (revoke_old: false): ARI moves to now, the client renews, and nothing is revoked', async () => {
    const c = await acmeClient();
    const names = [randomName('early')];
    const oldLeaf = await issue(c, names);
    const res = await p.http.post(`/api/v1/issuers/${h.inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'renew early', revoke_old: false }).expect(202);
    expect(res.body).toMatchObject({ revoke_old: false });
    const drillId = res.body.drill_id as string;
    const acmeItems = (await p.db.query(
      `SELECT i.certificate_id, c.source FROM reissue_drill_items i JOIN managed_certificates c ON c.id = i.certificate_id WHERE i.drill_id = $1 AND i.via_ari`, [drillId],
    )).rows;
    // Every ACME certificate of the issuer (this one and the first test's renewal) is asked through ARI.
    expect(acmeItems.length).toBe(res.body.ari_requested);
    expect(acmeItems.every((r) => r.source === 'ACME')).toBe(true);
    expect((await ari(oldLeaf)).start).toBeLessThanOrEqual(Date.now());

    const renewal = await order(c, names, ariId(oldLeaf));
    const newLeaf = await download(c, renewal.order);
    const certId = await certIdOf(oldLeaf);
    await waitFor('the renew-early item verified', async () => (await itemState(drillId, certId)) === 'verified', 30_000);
    expect((await drill(drillId)).revoked).toBe(0);
    expect(await ocsp(oldLeaf)).toBe('good');
    expect(await ocsp(newLeaf)).toBe('good');
    const revocations = await p.db.query(`SELECT count(*)::int AS n FROM certificate_revocations WHERE certificate_id = $1`, [certId]);
    expect(revocations.rows[0].n).toBe(0);
  });

  it('renew early of an issuer without ACME clients: every certificate renewed, the drill completes, nothing revoked', async () => {
    const inv = await createInventory(p);
    const certs: Array<{ id: string; serial: string }> = [];
    for (let i = 0; i < 2; i++) {
      const id = (await post(p, '/api/v1/certificates', certificateBody(inv))).id as string;
      const first = await p.http.post(`/api/v1/certificates/${id}/renew`).set(p.auth()).send({}).expect(202);
      expect((await p.waitForJob(first.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');
      certs.push({ id, serial: (await p.http.get(`/api/v1/certificates/${id}/export/pem`).set(p.auth()).expect(200)).body.serial_number });
    }
    const res = await p.http.post(`/api/v1/issuers/${inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'renew early', revoke_old: false }).expect(202);
    expect(res.body).toMatchObject({ total: 2, jobs_opened: 2, ari_requested: 0, revoke_old: false });
    const get = async () => (await p.http.get(`/api/v1/issuers/${inv.issuerId}/reissue/${res.body.drill_id}`).set(p.auth()).expect(200)).body;
    await waitFor('the renew-early drill completed', async () => (await get()).status === 'completed', 30_000);
    expect(await get()).toMatchObject({ total: 2, issued: 2, revoked: 0, failed: 0, revoke_old: false });
    for (const c of certs) {
      const fresh = (await p.http.get(`/api/v1/certificates/${c.id}/export/pem`).set(p.auth()).expect(200)).body.serial_number;
      expect(fresh).not.toBe(c.serial);
    }
    const { rows } = await p.db.query(`SELECT count(*)::int AS n FROM certificate_revocations WHERE certificate_id = ANY($1)`, [certs.map((c) => c.id)]);
    expect(rows[0].n).toBe(0);
  });

  it('follows a client that renews without "replaces" (same account, same names, ordered after the drill began)', async () => {
    const c = await acmeClient();
    const names = [randomName('no-ari-b'), randomName('no-ari-a')];
    const oldLeaf = await issue(c, names);
    const certId = await certIdOf(oldLeaf);
    const res = await p.http.post(`/api/v1/issuers/${h.inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'drill' }).expect(202);
    const drillId = res.body.drill_id as string;
    // Another account ordering the same names is not this client's renewal.
    const stranger = await acmeClient();
    await issue(stranger, names);
    const renewal = await order(c, [...names].reverse());
    // The stranger's order came first and was downloaded: were it taken for the renewal, the item would move past issued.
    await waitFor('the renewal counted issued', async () => (await itemState(drillId, certId)) === 'issued', 30_000);
    const [{ new_version_id: counted }] = (await p.db.query(`SELECT new_version_id FROM reissue_drill_items WHERE drill_id = $1 AND certificate_id = $2`, [drillId, certId])).rows;
    const [{ certificate_version_id: ordered }] = (await p.db.query(`SELECT certificate_version_id FROM acme_orders WHERE certificate_version_id IS NOT NULL AND replaces IS NULL AND account_id = (SELECT account_id FROM acme_orders WHERE certificate_id = $1 LIMIT 1) ORDER BY created_at DESC LIMIT 1`, [certId])).rows;
    expect(counted).toBe(ordered);
    expect(await ocsp(oldLeaf)).toBe('good');
    await download(c, renewal.order);
    await waitFor('the old serial revoked once downloaded', async () => (await itemState(drillId, certId)) === 'revoked', 30_000);
    await waitFor('OCSP answers revoked', async () => (await ocsp(oldLeaf)) === 'revoked', 10_000);
    // Renewed without "replaces", the new version is the same managed certificate's: it stays Active, its new serial good.
    const [{ certificate_id: renewedIn }] = (await p.db.query(`SELECT certificate_id FROM certificate_versions WHERE id = $1`, [counted])).rows;
    expect(renewedIn).toBe(certId);
    expect((await p.http.get(`/api/v1/certificates/${certId}`).set(p.auth()).expect(200)).body).toMatchObject({ status: 'Active' });
  });

  it('new-order refuses a "replaces" naming an unknown certificate, another account\'s, or one sharing no identifier (RFC 9773 §5)', async () => {
    const owner = await acmeClient();
    const other = await acmeClient();
    const names = [randomName('owned')];
    const leaf = await issue(owner, names);
    const ask = (c: acme.Client, replaces: string, value = names[0]!) => c.createOrder({ identifiers: [{ type: 'dns', value }], replaces } as OrderRequest);
    await expect(ask(owner, `${ariId(leaf).split('.')[0]}.AQIDBA`)).rejects.toThrow(/names no certificate this server issued/);
    await expect(ask(other, ariId(leaf))).rejects.toThrow(/another account ordered/);
    await expect(ask(owner, ariId(leaf), randomName('unrelated'))).rejects.toThrow(/shares no identifier/);
    const { rows } = await p.db.query(`SELECT count(*)::int AS n FROM acme_orders WHERE replaces_version_id IS NOT NULL AND replaces = $1`, [ariId(leaf)]);
    expect(rows[0].n).toBe(0);
  });
});

/** acme-client sends the new-order payload as given; its type does not know RFC 9773's `replaces`. */
type OrderRequest = Parameters<acme.Client['createOrder']>[0];

function akiOf(cert: X509Certificate): string {
  // node:crypto does not parse extensions; the AKI keyIdentifier follows the 2.5.29.35 OID as [0].
  const der = cert.raw;
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);
  const rest = der.subarray(der.indexOf(oid) + oid.length);
  const start = rest.indexOf(0x80);
  return rest.subarray(start + 2, start + 2 + rest[start + 1]!).toString('hex');
}

function serialBytes(cert: X509Certificate): Buffer {
  const hex = cert.serialNumber.length % 2 ? `0${cert.serialNumber}` : cert.serialNumber;
  const bytes = Buffer.from(hex, 'hex');
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}
