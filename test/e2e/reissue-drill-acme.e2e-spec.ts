import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpsGet, Pebble, pebbleMissing, startPebble } from '@certctl/testing';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';
import { waitFor } from '../support/notifier-peers';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * A re-issue drill of an ACME issuer against a real Pebble: every certificate is ordered again (real http-01), and
 * its old serial is revoked at the CA itself (revokeCert with the drill's reason, seen in Pebble's management API),
 * while the new serial stays valid.
 */
const missing = pebbleMissing();
if (missing && process.env.CI !== 'true') console.warn(`[reissue-drill-acme.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('mass re-issue drill of an ACME issuer (Pebble)', () => {
  let p: PlatformHarness;
  let pebble: Pebble;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Pebble cannot run: ${missing}`);
    const httpPort = await freePort();
    pebble = await startPebble({ httpPort, eab: true });
    p = await startPlatform({ CERTCTL_ACME_HTTP_PORT: String(httpPort), CERTCTL_KEYGEN_MODE: 'server', CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL: '250ms' });
  }, 120_000);
  afterAll(async () => {
    await p?.close();
    await pebble?.stop();
  });

  const pebbleStatus = async (serial: string) => JSON.parse((await httpsGet(`${pebble.managementUrl}/cert-status-by-serial/${serial}`, pebble.tlsCertPem)).body);
  const serialOf = async (certId: string) => (await p.http.get(`/api/v1/certificates/${certId}/export/pem`).set(p.auth()).expect(200)).body.serial_number as string;

  it('re-orders every certificate and revokes the old serials at the CA with the drill\'s reason', async () => {
    const inv = await createInventory(p);
    const issuer = await post(p, '/api/v1/issuers', {
      name: unique('pebble'), type: 'ACME',
      config: { directory_url: pebble.directoryUrl, email: 'ops@certctl.test', eab_kid: pebble.eab!.kid, eab_hmac_key: pebble.eab!.hmacKey, ca_bundle_pem: pebble.tlsCertPem },
    });
    const certs: Array<{ id: string; serial: string }> = [];
    for (let i = 0; i < 2; i++) {
      const name = `${unique('drill')}.certctl.test`;
      const cert = await post(p, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id as string }, { name, common_name: name, sans: [name] }));
      const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
      const issued = await p.waitForJob(job, ['Completed', 'Failed'], 60_000);
      expect(issued.status, `issuance job ${job}: ${issued.last_error}`).toBe('Completed');
      certs.push({ id: cert.id as string, serial: await serialOf(cert.id as string) });
    }
    const noReason = await p.http.post(`/api/v1/issuers/${issuer.id}/reissue`).set(p.auth()).send({ dry_run: false });
    expect(noReason.status).toBe(400);
    expect(noReason.body.details.map((d: { field: string }) => d.field)).toContain('reason');

    const res = await p.http.post(`/api/v1/issuers/${issuer.id}/reissue`).set(p.auth()).send({ reason: 'CA incident drill', revocation_reason: 'cessationOfOperation' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ total: 2, jobs_opened: 2 });
    const get = async () => (await p.http.get(`/api/v1/issuers/${issuer.id}/reissue/${res.body.drill_id}`).set(p.auth()).expect(200)).body;
    await waitFor('the ACME drill completed', async () => (await get()).status === 'completed', 90_000);
    expect(await get()).toMatchObject({ total: 2, issued: 2, revoked: 2, failed: 0 });

    for (const cert of certs) {
      await waitFor(`serial ${cert.serial} revoked at Pebble`, async () => (await pebbleStatus(cert.serial)).Status === 'Revoked', 30_000);
      expect((await pebbleStatus(cert.serial)).Reason).toBe(5); // cessationOfOperation
      const fresh = await serialOf(cert.id);
      expect(fresh).not.toBe(cert.serial);
      expect((await pebbleStatus(fresh)).Status).toBe('Valid');
    }
    const rows = await p.db.query('SELECT issuer_notified FROM certificate_revocations WHERE certificate_id = ANY($1)', [certs.map((c) => c.id)]);
    expect(rows.rows.map((r) => r.issuer_notified)).toEqual([true, true]);
  });
});
