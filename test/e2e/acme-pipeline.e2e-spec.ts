import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '@certctl/pki';
import { freePort, Pebble, pebbleMissing, startPebble } from '@certctl/testing';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * The whole pipeline against a real ACME CA: renew through the API, the orchestrator orders from Pebble,
 * Pebble validates http-01 against the orchestrator's responder (answers kept in Redis), and the version lands.
 */
const missing = pebbleMissing();
if (missing && process.env.CI !== 'true') console.warn(`[acme-pipeline.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('issuance from an ACME CA (Pebble, real http-01 validation)', () => {
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

  it('renews through the API and stores a chain that verifies to Pebble\'s root', async () => {
    const inv = await createInventory(p);
    const issuer = await post(p, '/api/v1/issuers', {
      name: unique('pebble'), type: 'ACME',
      config: { directory_url: pebble.directoryUrl, email: 'ops@certctl.test', eab_kid: pebble.eab!.kid, eab_hmac_key: pebble.eab!.hmacKey, ca_bundle_pem: pebble.tlsCertPem },
    });
    expect(issuer.config.eab_hmac_key).toBe('********');
    const tested = (await p.http.post(`/api/v1/issuers/${issuer.id}/test`).set(p.auth()).expect(200)).body;
    expect(tested.status).toBe('success');

    const name = `${unique('web')}.certctl.test`;
    const cert = await post(p, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id as string }, { name, common_name: name, sans: [name] }));
    const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
    const done = await p.waitForJob(job, ['Completed', 'Failed'], 60_000);
    expect(done.last_error).toBeNull();
    expect(done.status).toBe('Completed');

    const exported = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    const intermediates = exported.chain_pem.split(/(?<=-----END CERTIFICATE-----\n?)/).filter((b: string) => b.includes('BEGIN'));
    const chain = await verifyChain(exported.cert_pem, intermediates, [await pebble.rootPem()]);
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const version = (await p.http.get(`/api/v1/certificates/${cert.id}/versions`).set(p.auth()).expect(200)).body.data[0];
    expect(version.job_id).toBe(job);
    expect((await p.http.get(`/api/v1/certificates/${cert.id}`).set(p.auth())).body.status).toBe('Active');
  }, 90_000);
});
