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
    ['foo.example.com.', /sans\[1\] "foo.example.com." must not end with a dot/],
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
      const sans = ['app.example.com', '*.app.example.com', 'xn--bcher-kva.example', '10.0.0.1', '2001:db8::1', 'ops@example.com', 'spiffe://example.com/svc'];
      const created = await post(api, '/api/v1/certificates', certificateBody(inv, { issuer_id: issuers[issuer], common_name: 'app.example.com', sans }));
      expect(created.sans).toEqual(sans);
    });
  }

  it('checks names on update too', async () => {
    const created = await post(api, '/api/v1/certificates', certificateBody(inv));
    const res = await api.http.put(`/api/v1/certificates/${created.id}`).set(api.auth()).send({ sans: ['good.example.com', 'no spaces'] });
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: { field: string }) => d.field)).toEqual(['sans']);
  });

  it('checks the common name like a SAN: a DNS name or an IP address, without a trailing dot', async () => {
    for (const [commonName, message] of [
      ['bad name!', /"bad name!" is not a valid DNS name|must be a DNS name or an IP address/],
      ['foo.example.com.', /must not end with a dot/],
      ['ops@example.com', /must be a DNS name or an IP address/],
      ['-x.example.com', /not a valid DNS name/],
    ] as const) {
      const res = await api.http.post('/api/v1/certificates').set(api.auth()).send(certificateBody(inv, { common_name: commonName }));
      expect(res.status, commonName).toBe(400);
      expect(res.body.details, commonName).toEqual([{ field: 'common_name', message: expect.stringMatching(message) }]);
    }
    for (const commonName of ['*.wild.example.com', '192.0.2.10', '2001:db8::10']) {
      await post(api, '/api/v1/certificates', certificateBody(inv, { common_name: commonName, sans: [] }));
    }
    const created = await post(api, '/api/v1/certificates', certificateBody(inv));
    const res = await api.http.put(`/api/v1/certificates/${created.id}`).set(api.auth()).send({ common_name: 'bad name!' });
    expect(res.status).toBe(400);
  });

  it('keeps the common name among the SANs: added first when the SANs leave it out, on create and on update', async () => {
    const created = await post(api, '/api/v1/certificates', certificateBody(inv, { common_name: 'cn.example.com', sans: ['other.example.com'] }));
    expect(created.sans).toEqual(['cn.example.com', 'other.example.com']);
    const same = await post(api, '/api/v1/certificates', certificateBody(inv, { common_name: 'CN2.example.com', sans: ['x.example.com', 'cn2.example.com'] }));
    expect(same.sans).toEqual(['x.example.com', 'cn2.example.com']);
    const renamed = (await api.http.put(`/api/v1/certificates/${created.id}`).set(api.auth()).send({ common_name: 'new.example.com' }).expect(200)).body;
    expect(renamed.sans).toEqual(['new.example.com', 'cn.example.com', 'other.example.com']);
    const resanned = (await api.http.put(`/api/v1/certificates/${created.id}`).set(api.auth()).send({ sans: ['only.example.com'] }).expect(200)).body;
    expect(resanned.sans).toEqual(['new.example.com', 'only.example.com']);
  });
});
