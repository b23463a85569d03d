import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';

/** SANs are checked before anything is stored, whatever the issuer: 400 naming `sans`, the index and the reason. */
describe('subject alternative names', () => {
  let api: ApiHarness;
  let inv: Inventory;
  const issuers: Record<string, string> = {};

  beforeAll(async () => {
    api = await startApi();
    inv = await createInventory(api);
    issuers.GenericCA = inv.issuerId;
    issuers.ACME = (await post(api, '/api/v1/issuers', {
      name: unique('acme'), type: 'ACME', config: { directory_url: 'https://acme.example/dir', email: 'ops@certctl.test' },
    })).id;
  });
  afterAll(async () => api?.close());

  const bad: Array<[string, RegExp]> = [
    ['bad_label.example.com', /sans\[1\] "bad_label.example.com" is not a valid DNS name: label "bad_label"/],
    ['-dash.example.com', /not a valid DNS name: label "-dash"/],
    ['a..example.com', /not a valid DNS name: has an empty label/],
    ['*.*.example.com', /wildcard is only allowed as the leftmost label/],
    ['www*.example.com', /wildcard must be the whole leftmost label/],
    ['*.com', /at least two labels after it/],
    [`${'a'.repeat(64)}.example.com`, /longer than 63 characters/],
    ['300.1.2.3', /not a valid IP address/],
    ['10.0.0', /not a valid IP address/],
    ['fe80::zz', /not a valid IP address/],
    ['ops@bad_domain', /not a valid email address/],
  ];

  for (const issuer of ['GenericCA', 'ACME']) {
    it(`refuses invalid names for a ${issuer} issuer with 400 naming the field`, async () => {
      for (const [name, message] of bad) {
        const res = await api.http.post('/api/v1/certificates').set(api.auth())
          .send(certificateBody(inv, { issuer_id: issuers[issuer], sans: ['ok.example.com', name] }));
        expect(res.status, name).toBe(400);
        expect(res.body.details, name).toEqual([{ field: 'sans', message: expect.stringMatching(message) }]);
      }
    });

    it(`accepts RFC 1123 names, one leading wildcard, IPv4/IPv6, emails and URIs for a ${issuer} issuer`, async () => {
      const sans = ['app.example.com', '*.app.example.com', 'xn--bcher-kva.example', '10.0.0.1', '2001:db8::1', 'ops@example.com', 'spiffe://example.com/svc', 'example.com.'];
      const created = await post(api, '/api/v1/certificates', certificateBody(inv, { issuer_id: issuers[issuer], sans }));
      expect(created.sans).toEqual(sans);
    });
  }

  it('checks names on update too', async () => {
    const created = await post(api, '/api/v1/certificates', certificateBody(inv));
    const res = await api.http.put(`/api/v1/certificates/${created.id}`).set(api.auth()).send({ sans: ['good.example.com', 'no spaces'] });
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual(['sans', 'sans']);
  });
});
