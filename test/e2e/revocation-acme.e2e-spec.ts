import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobProducer } from '@certctl/db';
import { freePort, httpsGet, Pebble, pebbleMissing, startPebble } from '@certctl/testing';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';
import { ReconcilerService } from '../../apps/orchestrator/src/modules/scheduler/reconciler.service';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * Revoking a certificate of an ACME issuer revokes it at the CA too: the orchestrator sends revokeCert to a real
 * Pebble, whose management API then reports the certificate Revoked with the reason. A CA that cannot be reached
 * loses nothing: the revocation row says why, and the job retries until the CA has it.
 */
const missing = pebbleMissing();
if (missing && process.env.CI !== 'true') console.warn(`[revocation-acme.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('revocation at an ACME CA (Pebble)', () => {
  let p: PlatformHarness;
  let pebble: Pebble;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Pebble cannot run: ${missing}`);
    const httpPort = await freePort();
    pebble = await startPebble({ httpPort, eab: true });
    p = await startPlatform({ CERTCTL_ACME_HTTP_PORT: String(httpPort), CERTCTL_KEYGEN_MODE: 'server' });
  }, 120_000);
  afterAll(async () => {
    await p?.close();
    await pebble?.stop();
  });

  const pebbleStatus = async (serial: string) => JSON.parse((await httpsGet(`${pebble.managementUrl}/cert-status-by-serial/${serial}`, pebble.tlsCertPem)).body);
  const revocationRow = async (certId: string) => (await p.db.query('SELECT issuer_notified, issuer_notify_error FROM certificate_revocations WHERE certificate_id = $1', [certId])).rows[0];

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('revokes at Pebble with the reason; an unreachable CA is retried and the row says why until it succeeds', async () => {
    const inv = await createInventory(p);
    const issuer = await post(p, '/api/v1/issuers', {
      name: unique('pebble'), type: 'ACME',
      config: { directory_url: pebble.directoryUrl, email: 'ops@certctl.test', eab_kid: pebble.eab!.kid, eab_hmac_key: pebble.eab!.hmacKey, ca_bundle_pem: pebble.tlsCertPem },
    });
    const issue = async () => {
      const name = `${unique('rev')}.certctl.test`;
      const cert = await post(p, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id as string }, { name, common_name: name, sans: [name] }));
      const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
      expect((await p.waitForJob(job, ['Completed', 'Failed'], 60_000)).status).toBe('Completed');
      const serial = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body.serial_number as string;
      return { id: cert.id as string, serial };
    };

    const first = await issue();
    expect((await pebbleStatus(first.serial)).Status).toBe('Valid');
    await p.http.post(`/api/v1/certificates/${first.id}/revoke`).set(p.auth()).send({ reason: 'keyCompromise' }).expect(200);
    await waitFor('issuer_notified', async () => ((await revocationRow(first.id))?.issuer_notified ? true : undefined));
    const status = await pebbleStatus(first.serial);
    expect(status.Status).toBe('Revoked');
    expect(status.Reason).toBe(1); // keyCompromise

    // The CA unreachable: the revocation stands here, the row says why, and the job keeps trying.
    const second = await issue();
    // Pebble's HTTPS no longer trusted (another certificate in ca_bundle_pem): every call to the CA fails.
    const untrusted = (await pebble.rootPem()).trim();
    await p.db.query(`UPDATE issuers SET config = jsonb_set(config, '{ca_bundle_pem}', to_jsonb($2::text)), updated_at = now() WHERE id = $1`, [issuer.id, untrusted]);
    await p.http.post(`/api/v1/certificates/${second.id}/revoke`).set(p.auth()).send({ reason: 'superseded' }).expect(200);
    expect((await p.http.get(`/api/v1/certificates/${second.id}`).set(p.auth())).body.status).toBe('Revoked');
    const failing = await waitFor('issuer_notify_error', async () => (await revocationRow(second.id))?.issuer_notify_error ?? undefined);
    expect(failing).toMatch(/certificate|TLS|self[- ]signed|verify/i);
    expect((await revocationRow(second.id)).issuer_notified).toBe(false);
    expect((await pebbleStatus(second.serial)).Status).toBe('Valid');

    await p.db.query(`UPDATE issuers SET config = jsonb_set(config, '{ca_bundle_pem}', to_jsonb($2::text)), updated_at = now() WHERE id = $1`, [issuer.id, pebble.tlsCertPem]);
    await waitFor('the retried revocation', async () => ((await revocationRow(second.id))?.issuer_notified ? true : undefined), 45_000)
      .catch(async (err: Error) => {
        const job = await p.orchestrator.get(JobProducer).queue('issuance').getJob(`certificate.revoke__${second.id}`);
        throw new Error(`${err.message}: ${JSON.stringify(await revocationRow(second.id))} job ${await job?.getState()} attempts ${job?.attemptsMade} ${job?.failedReason}`);
      });
    expect((await revocationRow(second.id)).issuer_notify_error).toBeNull();
    expect((await pebbleStatus(second.serial))).toMatchObject({ Status: 'Revoked', Reason: 4 }); // superseded
  }, 150_000);

  it('a revocation whose queue job was lost (e.g. Redis flushed) is queued again by the reconciler and reaches the CA', async () => {
    const inv = await createInventory(p);
    const issuer = await post(p, '/api/v1/issuers', {
      name: unique('pebble'), type: 'ACME',
      config: { directory_url: pebble.directoryUrl, email: 'ops@certctl.test', eab_kid: pebble.eab!.kid, eab_hmac_key: pebble.eab!.hmacKey, ca_bundle_pem: pebble.tlsCertPem },
    });
    const name = `${unique('lost')}.certctl.test`;
    const cert = await post(p, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id as string }, { name, common_name: name, sans: [name] }));
    const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
    expect((await p.waitForJob(job, ['Completed', 'Failed'], 60_000)).status).toBe('Completed');
    const serial = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body.serial_number as string;

    // The CA unreachable at the revoke, and then the queue job gone: nothing in Redis would ever tell the CA.
    await p.db.query(`UPDATE issuers SET config = jsonb_set(config, '{ca_bundle_pem}', to_jsonb($2::text)), updated_at = now() WHERE id = $1`, [issuer.id, (await pebble.rootPem()).trim()]);
    await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth()).send({ reason: 'cessationOfOperation' }).expect(200);
    await waitFor('issuer_notify_error', async () => (await revocationRow(cert.id))?.issuer_notify_error ?? undefined);
    const queue = p.orchestrator.get(JobProducer).queue('issuance');
    const queued = await waitFor('the retry waiting in its backoff', async () => {
      const found = await queue.getJob(`certificate.revoke__${cert.id}`);
      return found && (await found.getState()) === 'delayed' ? found : undefined;
    });
    await queued.remove();
    await p.db.query(`UPDATE issuers SET config = jsonb_set(config, '{ca_bundle_pem}', to_jsonb($2::text)), updated_at = now() WHERE id = $1`, [issuer.id, pebble.tlsCertPem]);

    const reconciler = p.orchestrator.get(ReconcilerService);
    expect(await reconciler.reconcile(0)).toBeGreaterThanOrEqual(1);
    await waitFor('the reconciled revocation', async () => ((await revocationRow(cert.id))?.issuer_notified ? true : undefined), 30_000);
    expect((await pebbleStatus(serial))).toMatchObject({ Status: 'Revoked', Reason: 5 }); // cessationOfOperation
    // Told once: nothing left for the next pass.
    expect((await p.db.query('SELECT count(*)::int AS n FROM certificate_revocations WHERE certificate_id = $1 AND NOT issuer_notified', [cert.id])).rows[0].n).toBe(0);
  }, 150_000);
});
