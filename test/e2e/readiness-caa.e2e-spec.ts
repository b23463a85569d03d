import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bind9, bind9Missing, startBind9 } from '@certctl/testing';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';

/**
 * The readiness report's CAA column against a real BIND9 (CERTCTL_CAA_RESOLVER): allowed where the zone's CAA
 * names the issuer's CA, forbidden with the record where it names another, unknown when DNS does not answer, and
 * answers cached per name so a second report does not ask DNS again.
 */
const missing = bind9Missing();
if (missing && process.env.CI !== 'true') console.warn(`[readiness-caa.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('readiness report: CAA per certificate (BIND9)', () => {
  let api: ApiHarness;
  let bind: Bind9;
  let inv: Inventory;
  let issuerId: string;
  const cert = async (name: string, sans: string[] = [name]) =>
    (await post(api, '/api/v1/certificates', certificateBody({ ...inv, issuerId }, { name, common_name: name, sans }))).id as string;
  const caaOf = async (certificateId: string) => {
    const body = (await api.http.get(`/api/v1/reports/readiness?issuer_id=${issuerId}&per_page=500`).set(api.auth()).expect(200)).body;
    return body.data.find((r: { certificate_id: string }) => r.certificate_id === certificateId).caa;
  };

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and BIND9 cannot run: ${missing}`);
    bind = await startBind9({
      records: ['@ 60 IN CAA 0 issue "ca.example"', 'elsewhere 60 IN CAA 0 issue "other-ca.example"'],
    });
    api = await startApi({ CERTCTL_CAA_RESOLVER: bind.address, CERTCTL_CAA_CACHE_TTL: '5m', CERTCTL_READ_CACHE_TTL: '1ms' });
    inv = await createInventory(api);
    issuerId = (await post(api, '/api/v1/issuers', {
      name: unique('acme'), type: 'ACME', config: { directory_url: 'https://acme.example/dir', caa_identities: ['ca.example'] },
    })).id as string;
  }, 60_000);
  afterAll(async () => {
    await api?.close();
    await bind?.stop();
  });

  it('allowed where CAA names the CA; forbidden, with the record, where it names another; ACME issuers without identities not checked', async () => {
    const allowed = await cert(`${unique('web')}.example.test`);
    const mixed = await cert(`${unique('api')}.example.test`, [`${unique('api')}.example.test`, `${unique('x')}.elsewhere.example.test`]);
    expect(await caaOf(allowed)).toEqual({ status: 'allowed', detail: 'CAA allows ca.example' });
    const verdict = await caaOf(mixed);
    expect(verdict.status).toBe('forbidden');
    expect(verdict.detail).toMatch(/\.elsewhere\.example\.test: elsewhere\.example\.test CAA 0 issue "other-ca\.example"$/);

    const unknownCa = (await post(api, '/api/v1/issuers', { name: unique('acme'), type: 'ACME', config: { directory_url: 'https://acme.example/dir' } })).id as string;
    const other = (await post(api, '/api/v1/certificates', certificateBody({ ...inv, issuerId: unknownCa }))).id as string;
    const body = (await api.http.get(`/api/v1/reports/readiness?issuer_id=${unknownCa}`).set(api.auth()).expect(200)).body;
    expect(body.data.find((r: { certificate_id: string }) => r.certificate_id === other).caa).toMatchObject({ status: 'not_checked', detail: expect.stringMatching(/caa_identities/) });
  });

  it('caches answers per name (a changed record is not seen within the TTL) and reports unknown when DNS does not answer', async () => {
    const name = `${unique('cached')}.example.test`;
    const id = await cert(name);
    expect((await caaOf(id)).status).toBe('allowed');
    await bind.addRecord(name.replace(/\.example\.test$/, ''), 'CAA', '0 issue "other-ca.example"');
    // The record now forbids, but the answer is reused for CERTCTL_CAA_CACHE_TTL: no new DNS query.
    expect((await caaOf(id)).status).toBe('allowed');

    await bind.stop();
    const late = await cert(`${unique('late')}.example.test`);
    const started = performance.now();
    const verdict = await caaOf(late);
    expect(verdict.status).toBe('unknown');
    expect(verdict.detail).toMatch(/CAA lookup for .* failed/);
    expect((await caaOf(id)).status).toBe('allowed'); // still cached
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});
