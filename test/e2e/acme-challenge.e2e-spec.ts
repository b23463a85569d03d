import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeChallengeStore } from '@certctl/issuers';
import { freePort, Pebble, pebbleMissing, startPebble } from '@certctl/testing';
import { ApiHarness, startApi } from '../support/api-harness';
import { unique } from '../support/fixtures';

/**
 * The api's side of ACME: the public http-01 route answering from Redis (so any replica can), ACME issuer
 * configs refused at create time, and an ACME issuer tested from the api against Pebble.
 */
describe('api: ACME http-01 route and ACME issuers', () => {
  let api: ApiHarness;
  let redis: Redis;
  let store: AcmeChallengeStore;

  beforeAll(async () => {
    api = await startApi({ CERTCTL_CONFIG_ENCRYPTION_KEY: 'acme-e2e-encryption-key-0123456789abcdef' });
    redis = new Redis(api.env.redisUrl, { maxRetriesPerRequest: 2 });
    store = new AcmeChallengeStore(redis, api.env.queuePrefix, 60);
  });
  afterAll(async () => {
    redis?.disconnect();
    await api?.close();
  });

  it('serves a stored key authorization at /.well-known/acme-challenge/<token> without credentials', async () => {
    const token = randomBytes(24).toString('base64url');
    await store.put(token, `${token}.thumbprint`);
    const res = await api.http.get(`/.well-known/acme-challenge/${token}`);
    expect(res.status).toBe(200);
    expect(res.text ?? res.body.toString()).toBe(`${token}.thumbprint`);

    await store.remove(token);
    expect((await api.http.get(`/.well-known/acme-challenge/${token}`)).status).toBe(404);
    expect((await api.http.get('/.well-known/acme-challenge/not%2Fa%2Ftoken')).status).toBe(404);
    // Only at the root: under the API prefix it is an ordinary (authenticated, unknown) route.
    expect((await api.http.get(`/api/v1/.well-known/acme-challenge/${token}`)).status).toBe(404);
  });

  it('refuses ACME configs missing directory_url, or dns-01 without hook scripts, with a 400 naming the field', async () => {
    const missingUrl = await api.http.post('/api/v1/issuers').set(api.auth()).send({ name: unique('acme'), type: 'ACME', config: { email: 'ops@certctl.test' } });
    expect(missingUrl.status).toBe(400);
    expect(missingUrl.body.details).toContainEqual(expect.objectContaining({ field: 'config.directory_url' }));
    const noScripts = await api.http.post('/api/v1/issuers').set(api.auth())
      .send({ name: unique('acme'), type: 'ACME', config: { directory_url: 'https://acme.example/dir', challenge_type: 'dns-01' } });
    expect(noScripts.status).toBe(400);
    expect(noScripts.body.details).toContainEqual(expect.objectContaining({ field: 'config.dns_present_script' }));
    const { rows } = await api.db.query(`SELECT count(*)::int AS n FROM issuers WHERE type = 'ACME'`);
    expect(rows[0].n).toBe(0);
  });

  describe('issuer test against Pebble', () => {
    const missing = pebbleMissing();
    if (missing && process.env.CI !== 'true') console.warn(`[acme-challenge.e2e] Pebble part skipped: ${missing}`);
    const run = missing && process.env.CI !== 'true' ? it.skip : it;
    let pebble: Pebble | undefined;
    afterAll(async () => pebble?.stop());

    run('POST /issuers/{id}/test registers the account (EAB secret stored encrypted) and reports success', async () => {
      if (missing) throw new Error(`CI=true and Pebble cannot run: ${missing}`);
      pebble = await startPebble({ httpPort: await freePort(), eab: true });
      const created = await api.http.post('/api/v1/issuers').set(api.auth()).send({
        name: unique('acme'), type: 'ACME',
        config: { directory_url: pebble.directoryUrl, eab_kid: pebble.eab!.kid, eab_hmac_key: pebble.eab!.hmacKey, ca_bundle_pem: pebble.tlsCertPem },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.config.eab_hmac_key).toBe('********');
      const tested = await api.http.post(`/api/v1/issuers/${created.body.id}/test`).set(api.auth());
      expect(tested.status, JSON.stringify(tested.body)).toBeLessThan(300);
      expect(tested.body).toMatchObject({ status: 'success', message: expect.stringMatching(/account https:\/\/127\.0\.0\.1:\d+\/my-account\/\S+ valid/) });
      const { rows } = await api.db.query('SELECT account_url FROM acme_issuer_accounts WHERE issuer_id = $1', [created.body.id]);
      expect(rows).toHaveLength(1);
      expect(tested.body.message).toContain(rows[0].account_url);
    });
  });
});
