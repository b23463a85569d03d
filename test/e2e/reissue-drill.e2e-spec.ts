import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { servedFingerprint } from '@certctl/deploy';
import { freePort } from '@certctl/testing';
import { missingPeer, NginxPeer, servedAfterReload } from '../../libs/deploy/src/testing/peers';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { waitFor } from '../support/notifier-peers';
import { opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const missing = missingPeer('nginx', 'openssl');
if (missing && process.env.CI !== 'true') console.warn(`[reissue-drill.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/**
 * The mass re-issue drill end to end: the Local CA, the orchestrator's issuance and deploy workers, real nginx as
 * the deploy target with its post-deploy TLS check, and openssl as the OCSP and CRL client. The old serial must
 * stay good until nginx serves the new certificate, and be revoked after.
 */
suite('mass re-issue drill (POST /issuers/{id}/reissue)', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let nginx: NginxPeer;
  let base: string;
  let targetId: string;
  let servedCert: string;
  let bareCert: string;
  const old: Record<string, { serial: string; file: string; fingerprint: string }> = {};
  const dir = mkdtempSync(join(tmpdir(), 'reissue-e2e-'));
  const openssl = opensslIn(dir);

  const served = () => servedFingerprint({ host: '127.0.0.1', port: nginx.port });
  const current = async (certId: string, name: string) => {
    const pem = (await p.http.get(`/api/v1/certificates/${certId}/export/pem`).set(p.auth()).expect(200)).body;
    writeFileSync(join(dir, `${name}.pem`), pem.cert_pem);
    writeFileSync(join(dir, 'ca.pem'), pem.chain_pem);
    return { serial: pem.serial_number as string, file: `${name}.pem`, fingerprint: pem.fingerprint_sha256 as string };
  };
  const ocsp = async (file: string) => {
    const r = await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', file, '-url', `${base}/.well-known/pki/ocsp/${inv.issuerId}`, '-CAfile', 'ca.pem']);
    expect(r.out).toContain('Response verify OK');
    return /: (good|revoked|unknown)/.exec(r.out)?.[1];
  };
  const crlText = async () => {
    const res = await fetch(`${base}/.well-known/pki/crl/${inv.issuerId}`);
    writeFileSync(join(dir, 'crl.der'), Buffer.from(await res.arrayBuffer()));
    return (await openssl(['crl', '-inform', 'DER', '-in', 'crl.der', '-noout', '-text'])).out.replace(/:/g, '').toLowerCase();
  };
  const progress = async (drillId: string) => (await p.http.get(`/api/v1/issuers/${inv.issuerId}/reissue/${drillId}`).set(p.auth()).expect(200)).body;
  const item = async (drillId: string, certId: string) =>
    (await p.db.query('SELECT * FROM reissue_drill_items WHERE drill_id = $1 AND certificate_id = $2', [drillId, certId])).rows[0];
  const deployQueue = () => p.app.get(JobProducer).queue(Queue.Deploy);

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and a peer cannot run: ${missing}`);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    p = await startPlatform({ CERTCTL_PKI_BASE_URL: base, CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL: '250ms' });
    await p.app.listen(port, '127.0.0.1');
    inv = await createInventory(p);
    const placeholder = await (await TestCa.create()).issue();
    nginx = await NginxPeer.start({ certPem: placeholder.certPem, keyPem: placeholder.keyPem! });
    const target = await post(p, '/api/v1/targets', {
      name: unique('nginx'), type: 'NGINX',
      config: {
        cert_path: nginx.certPath, key_path: nginx.keyPath, validate_command: nginx.validateCommand, reload_command: nginx.reloadCommand,
        post_deploy_verify: { enabled: true, endpoint: `127.0.0.1:${nginx.port}` }, post_deploy_verify_attempts: 8, post_deploy_verify_backoff: '100ms',
      },
    });
    targetId = target.id as string;
    servedCert = (await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [targetId] }))).id as string;
    bareCert = (await post(p, '/api/v1/certificates', certificateBody(inv))).id as string;
    for (const id of [servedCert, bareCert]) {
      const renewal = await p.http.post(`/api/v1/certificates/${id}/renew`).set(p.auth()).send({}).expect(202);
      expect((await p.waitForJob(renewal.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');
    }
    const first = await current(servedCert, 'served-v1');
    old.served = first;
    old.bare = await current(bareCert, 'bare-v1');
    expect(await servedAfterReload(served, first.fingerprint)).toBe(first.fingerprint);
  });
  afterAll(async () => {
    nginx?.stop();
    await p?.close();
  });

  it('refuses a drill without a reason (400 naming it) and an unknown issuer or drill (404)', async () => {
    const noReason = await p.http.post(`/api/v1/issuers/${inv.issuerId}/reissue`).set(p.auth()).send({ dry_run: true });
    expect(noReason.status).toBe(400);
    expect(JSON.stringify(noReason.body)).toMatch(/reason/);
    await p.http.post('/api/v1/issuers/iss-nope/reissue').set(p.auth()).send({ reason: 'drill' }).expect(404);
    await p.http.get(`/api/v1/issuers/${inv.issuerId}/reissue/drill-nope`).set(p.auth()).expect(404);
    await p.http.get('/api/v1/issuers/iss-nope/reissue/drill-nope').set(p.auth()).expect(404);
    const badCode = await p.http.post(`/api/v1/issuers/${inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'drill', revocation_reason: 'KeyCompromise' });
    expect(badCode.status).toBe(400);
  });

  it('dry run: counts and lists the active certificates of the issuer, and changes nothing', async () => {
    const res = await p.http.post(`/api/v1/issuers/${inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'CA key ceremony drill', dry_run: true });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ dry_run: true, issuer_id: inv.issuerId, total: 2 });
    expect(res.body.certificates.map((c: { certificate_id: string }) => c.certificate_id).sort()).toEqual([servedCert, bareCert].sort());
    expect(res.body.certificates.find((c: { certificate_id: string }) => c.certificate_id === servedCert).serial_number).toBe(old.served!.serial);
    const jobs = await p.db.query(`SELECT count(*)::int AS n FROM jobs WHERE type = 'Renewal' AND certificate_id = ANY($1)`, [[servedCert, bareCert]]);
    expect(jobs.rows[0].n).toBe(0);
    expect((await p.db.query('SELECT count(*)::int AS n FROM reissue_drills')).rows[0].n).toBe(0);
  });

  it('re-issues and redeploys; each old serial is revoked only once its replacement is served (OCSP and CRL)', async () => {
    // Hold the deploy worker, so the new certificate is issued but not yet on nginx.
    await deployQueue().pause();
    const res = await p.http.post(`/api/v1/issuers/${inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'CA key ceremony drill' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ dry_run: false, issuer_id: inv.issuerId, status: 'running', total: 2, jobs_opened: 2, skipped: [] });
    const drillId = res.body.drill_id as string;

    // The certificate without targets: revoked as soon as its new version is issued.
    await waitFor('the bare certificate revoked', async () => (await item(drillId, bareCert))?.state === 'revoked');
    // Every process trusts its copy of the issuer's revocation generation for up to 500 ms (EPOCH_TTL_MS).
    await waitFor('OCSP says the bare certificate is revoked', async () => (await ocsp(old.bare!.file)) === 'revoked', 5_000);
    // The served one: issued, its deployment waiting; the old serial is still good and still what nginx serves.
    await waitFor('the served certificate issued', async () => (await item(drillId, servedCert))?.state === 'issued');
    const waiting = await progress(drillId);
    expect(waiting).toMatchObject({ status: 'running', total: 2, issued: 2, deployed: 0, verified: 0, revoked: 1, failed: 0 });
    expect(await served()).toBe(old.served!.fingerprint);
    expect(await ocsp(old.served!.file)).toBe('good');
    expect(await crlText()).not.toContain(old.served!.serial.toLowerCase());

    await deployQueue().resume();
    await waitFor('the drill completed', async () => (await progress(drillId)).status === 'completed', 30_000);
    const done = await progress(drillId);
    expect(done).toMatchObject({ total: 2, issued: 2, deployed: 1, verified: 1, revoked: 2, failed: 0, unverified: 0, problems: [] });

    const servedItem = await item(drillId, servedCert);
    const fresh = await current(servedCert, 'served-v2');
    expect(fresh.serial).not.toBe(old.served!.serial);
    expect(servedItem.new_serial).toBe(fresh.serial);
    // The revocation came after the verification that nginx served the new one.
    expect(new Date(servedItem.revoked_at).getTime()).toBeGreaterThanOrEqual(new Date(servedItem.verified_at).getTime());
    const deployment = (await p.db.query(
      `SELECT * FROM jobs WHERE certificate_id = $1 AND type = 'Deployment' ORDER BY created_at DESC LIMIT 1`, [servedCert])).rows[0];
    expect(deployment).toMatchObject({ status: 'Completed', verification_status: 'success', verification_fingerprint: fresh.fingerprint });
    expect(new Date(servedItem.revoked_at).getTime()).toBeGreaterThanOrEqual(new Date(deployment.verified_at).getTime());
    expect(await servedAfterReload(served, fresh.fingerprint)).toBe(fresh.fingerprint);

    await waitFor('OCSP says the served certificate is revoked', async () => (await ocsp(old.served!.file)) === 'revoked', 5_000);
    expect(await ocsp(fresh.file)).toBe('good');
    const crl = await crlText();
    expect(crl).toContain(old.served!.serial.toLowerCase());
    expect(crl).toContain(old.bare!.serial.toLowerCase());
    expect(crl).toContain('superseded');
    // The certificates themselves stay Active: only their old serials are revoked.
    const statuses = await p.db.query('SELECT status FROM managed_certificates WHERE id = ANY($1)', [[servedCert, bareCert]]);
    expect(statuses.rows.map((r) => r.status)).toEqual(['Active', 'Active']);

    await p.flushAudit();
    const audit = await p.db.query(`SELECT action, resource_id, details FROM audit_events WHERE action LIKE 'reissue_%' ORDER BY seq`);
    expect(audit.rows.map((r) => r.action)).toEqual(['reissue_drill_started', 'reissue_old_serials_revoked', 'reissue_old_serials_revoked', 'reissue_drill_completed']);
    expect(audit.rows[0].details).toMatchObject({ drill_id: drillId, reason: 'CA key ceremony drill', revocation_reason: 'superseded', total: 2 });
    expect(audit.rows.find((r) => r.resource_id === servedCert)!.details).toMatchObject({ revoked_serials: [old.served!.serial], served_verified: true });
  });

  it('a deployment that fails leaves the old serial unrevoked and the drill says why', async () => {
    const before = await current(servedCert, 'served-v2');
    nginx.scratch.failNextReload();
    const res = await p.http.post(`/api/v1/issuers/${inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'keyCompromise' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const drillId = res.body.drill_id as string;
    await waitFor('the drill completed', async () => (await progress(drillId)).status === 'completed', 30_000);
    const done = await progress(drillId);
    expect(done).toMatchObject({ revocation_reason: 'keyCompromise', total: 2, issued: 2, revoked: 1, failed: 1 });
    expect(done.problems).toEqual([{ certificate_id: servedCert, state: 'failed', error: expect.stringMatching(/deployment failed: .*reload failed/) }]);
    expect(await ocsp(before.file)).toBe('good');
    expect(await servedAfterReload(served, before.fingerprint)).toBe(before.fingerprint);
    await p.flushAudit();
    const failed = await p.db.query(`SELECT details FROM audit_events WHERE action = 'reissue_certificate_failed' AND resource_id = $1`, [servedCert]);
    expect(failed.rows).toHaveLength(1);
  });

  it('scoped to an intermediate CA: only the certificates whose chain holds it', async () => {
    const ca = await post(p, '/api/v1/issuers', { name: unique('tree-ca'), type: 'GenericCA' });
    const tree = { ...inv, issuerId: ca.id as string };
    const issue = async () => {
      const cert = await post(p, '/api/v1/certificates', certificateBody(tree));
      const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
      expect((await p.waitForJob(job.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');
      return cert.id as string;
    };
    const underRoot = await issue();
    const ica = (await p.http.post(`/api/v1/issuers/${ca.id}/intermediates`).set(p.auth()).send({ name: 'issuing', common_name: 'Issuing CA' }).expect(201)).body;
    await p.http.put(`/api/v1/issuers/${ca.id}`).set(p.auth()).send({ config: { ...ca.config, signing_intermediate_id: ica.id } }).expect(200);
    const underIca = await issue();

    const byIca = await p.http.post(`/api/v1/issuers/${ica.id}/reissue`).set(p.auth()).send({ reason: 'intermediate rotation', dry_run: true }).expect(200);
    expect(byIca.body).toMatchObject({ issuer_id: ca.id, intermediate_ca_id: ica.id, total: 1, certificates: [{ certificate_id: underIca }] });
    const byIssuer = await p.http.post(`/api/v1/issuers/${ca.id}/reissue`).set(p.auth()).send({ reason: 'issuer rotation', dry_run: true }).expect(200);
    expect(byIssuer.body.certificates.map((c: { certificate_id: string }) => c.certificate_id).sort()).toEqual([underRoot, underIca].sort());

    const drill = await p.http.post(`/api/v1/issuers/${ica.id}/reissue`).set(p.auth()).send({ reason: 'intermediate rotation' }).expect(202);
    const get = async () => (await p.http.get(`/api/v1/issuers/${ica.id}/reissue/${drill.body.drill_id}`).set(p.auth()).expect(200)).body;
    await waitFor('the intermediate drill completed', async () => (await get()).status === 'completed');
    expect(await get()).toMatchObject({ intermediate_ca_id: ica.id, total: 1, issued: 1, revoked: 1 });
    const renewals = await p.db.query(`SELECT certificate_id FROM jobs WHERE type = 'Renewal' AND certificate_id = ANY($1) AND requested_by <> 'system'`, [[underRoot, underIca]]);
    expect(renewals.rows.filter((r) => r.certificate_id === underRoot)).toHaveLength(0);
  });

  it('times a drill of many certificates (no targets: revoked once issued)', async () => {
    const n = 200;
    const issuer = await post(p, '/api/v1/issuers', { name: unique('drill-ca'), type: 'GenericCA' });
    const many = { ...inv, issuerId: issuer.id as string };
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await post(p, '/api/v1/certificates', certificateBody(many))).id as string);
    const bulk = await p.http.post('/api/v1/certificates/bulk-renew').set(p.auth()).send({ certificate_ids: ids });
    expect(bulk.status, JSON.stringify(bulk.body)).toBeLessThan(300);
    for (const j of bulk.body.enqueued_jobs) await p.waitForJob(j.job_id, ['Completed'], 60_000);
    const dry = await p.http.post(`/api/v1/issuers/${issuer.id}/reissue`).set(p.auth()).send({ reason: 'drill', dry_run: true }).expect(200);
    expect(dry.body.total).toBe(n);
    const res = await p.http.post(`/api/v1/issuers/${issuer.id}/reissue`).set(p.auth()).send({ reason: 'drill' }).expect(202);
    const get = async () => (await p.http.get(`/api/v1/issuers/${issuer.id}/reissue/${res.body.drill_id}`).set(p.auth()).expect(200)).body;
    await waitFor('the large drill completed', async () => (await get()).status === 'completed', 120_000);
    expect(await get()).toMatchObject({ total: n, issued: n, revoked: n, failed: 0 });
    const revoked = await p.db.query(`SELECT count(*)::int AS n FROM certificate_revocations WHERE issuer_id = $1 AND reason = 'superseded'`, [issuer.id]);
    expect(revoked.rows[0].n).toBe(n);
  });
});
