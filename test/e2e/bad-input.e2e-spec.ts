import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';

/** Every client mistake gets a clear 4xx in the API's error shape and changes nothing; none produces a 500. */
describe('bad input', () => {
  let api: ApiHarness;
  let inv: Inventory;

  beforeAll(async () => {
    api = await startApi();
    inv = await createInventory(api);
  });
  afterAll(async () => api?.close());

  const expectError = (res: { status: number; body: Record<string, unknown>; headers: Record<string, string> }, status: number, code: string) => {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body).toMatchObject({ code });
    expect(typeof res.body.error).toBe('string');
    expect(typeof res.body.message).toBe('string');
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  };

  it('malformed JSON is a 400', async () => {
    const res = await api.http.post('/api/v1/teams').set(api.auth()).set('Content-Type', 'application/json').send('{"name": "x",');
    expectError(res, 400, 'MALFORMED_JSON');
  });

  it('an unknown field is a 400 naming the field', async () => {
    const res = await api.http.post('/api/v1/teams').set(api.auth()).send({ name: unique('t'), colour: 'blue' });
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(res.body.details).toContainEqual({ field: 'colour', message: 'unknown field' });
  });

  it('a wrongly typed field is a 400 naming the field', async () => {
    const res = await api.http.post('/api/v1/certificates').set(api.auth()).send(certificateBody(inv, { sans: 'not-a-list' }));
    expectError(res, 400, 'VALIDATION_FAILED');
    expect((res.body.details as Array<{ field: string }>).map((d) => d.field)).toContain('sans');
    const nested = await api.http.post('/api/v1/profiles').set(api.auth())
      .send({ name: unique('p'), allowed_key_algorithms: [{ algorithm: 'DSA', min_size: 1024 }] });
    expectError(nested, 400, 'VALIDATION_FAILED');
    expect((nested.body.details as Array<{ field: string }>).map((d) => d.field)).toContain('allowed_key_algorithms.0.algorithm');
  });

  it('says each field\'s problem once, without repeating the field\'s name', async () => {
    const res = await api.http.post('/api/v1/certificates').set(api.auth()).send({ name: 5, common_name: 7, owner_id: 'x', issuer_id: 'y' });
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(res.body.details).toEqual([{ field: 'name', message: 'must be a string' }, { field: 'common_name', message: 'must be a string' }]);
    expect(res.body.message).toBe('name: must be a string; common_name: must be a string');
  });

  it('an unknown route is a 404 and a non-JSON body a 400, in the same error shape', async () => {
    expectError(await api.http.get('/api/v1/no-such-thing').set(api.auth()), 404, 'NOT_FOUND');
    const text = await api.http.post('/api/v1/teams').set(api.auth()).set('Content-Type', 'text/plain').send('name=x');
    expectError(text, 400, 'VALIDATION_FAILED');
  });

  it('a body over 1 MiB is a 413', async () => {
    const res = await api.http.post('/api/v1/teams').set(api.auth()).send({ name: 'x', description: 'a'.repeat(1024 * 1024 + 10) });
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('an unknown id is a 404 on get, update, delete and sub-resources', async () => {
    for (const path of ['certificates', 'issuers', 'targets', 'agents', 'jobs', 'owners', 'teams', 'renewal-policies', 'profiles', 'policies', 'audit']) {
      const res = await api.http.get(`/api/v1/${path}/nope-404`).set(api.auth());
      expectError(res, 404, expect.stringMatching(/_NOT_FOUND$/) as unknown as string);
    }
    expectError(await api.http.put('/api/v1/teams/nope-404').set(api.auth()).send({ name: 'x' }), 404, 'TEAM_NOT_FOUND');
    expectError(await api.http.delete('/api/v1/owners/nope-404').set(api.auth()), 404, 'OWNER_NOT_FOUND');
    expectError(await api.http.get('/api/v1/certificates/nope-404/versions').set(api.auth()), 404, 'CERTIFICATE_NOT_FOUND');
    expectError(await api.http.post('/api/v1/jobs/nope-404/cancel').set(api.auth()), 404, 'JOB_NOT_FOUND');
    expectError(await api.http.get('/api/v1/policies/nope-404/violations').set(api.auth()), 404, 'POLICY_NOT_FOUND');
  });

  it('a reference to a missing owner, issuer, policy or target is a 400 naming it', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ owner_id: 'owner-missing' }, 'owner_id'],
      [{ issuer_id: 'iss-missing' }, 'issuer_id'],
      [{ renewal_policy_id: 'rp-missing' }, 'renewal_policy_id'],
      [{ team_id: 'team-missing' }, 'team_id'],
      [{ certificate_profile_id: 'prof-missing' }, 'certificate_profile_id'],
      [{ target_ids: ['target-missing'] }, 'target_ids'],
    ];
    for (const [override, field] of cases) {
      const res = await api.http.post('/api/v1/certificates').set(api.auth()).send(certificateBody(inv, override));
      expectError(res, 400, 'REFERENCE_NOT_FOUND');
      expect(res.body.details).toEqual([{ field, message: expect.stringContaining('does not exist') }]);
    }
    const owner = await api.http.post('/api/v1/owners').set(api.auth()).send({ name: unique('o'), email: 'a@example.com', team_id: 'team-missing' });
    expectError(owner, 400, 'REFERENCE_NOT_FOUND');
    const target = await api.http.post('/api/v1/targets').set(api.auth()).send({ name: unique('t'), type: 'NGINX', agent_id: 'agent-missing' });
    expectError(target, 400, 'REFERENCE_NOT_FOUND');
  });

  it('deleting an owner, issuer or team still referenced is a 409, and nothing is deleted', async () => {
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv));
    expectError(await api.http.delete(`/api/v1/owners/${inv.ownerId}`).set(api.auth()), 409, 'IN_USE');
    expectError(await api.http.delete(`/api/v1/issuers/${inv.issuerId}`).set(api.auth()), 409, 'IN_USE');
    expectError(await api.http.delete(`/api/v1/teams/${inv.teamId}`).set(api.auth()), 409, 'IN_USE');
    await api.http.get(`/api/v1/owners/${inv.ownerId}`).set(api.auth()).expect(200);
    await api.http.get(`/api/v1/certificates/${cert.id}`).set(api.auth()).expect(200);
  });

  it('a duplicate name or client-supplied id is a 409', async () => {
    const name = unique('team');
    await post(api, '/api/v1/teams', { id: `team-${name}`, name });
    const dupName = await api.http.post('/api/v1/teams').set(api.auth()).send({ name });
    expectError(dupName, 409, 'DUPLICATE');
    expect(dupName.body.details).toEqual([{ field: 'name', message: 'already exists' }]);
    const dupId = await api.http.post('/api/v1/teams').set(api.auth()).send({ id: `team-${name}`, name: unique('other') });
    expectError(dupId, 409, 'DUPLICATE');
    expect(dupId.body.details).toEqual([{ field: 'id', message: 'already exists' }]);
    const other = await post(api, '/api/v1/teams', { name: unique('team') });
    expectError(await api.http.put(`/api/v1/teams/${other.id}`).set(api.auth()).send({ name }), 409, 'DUPLICATE');
  });

  it('per_page 0 or 10000, a bad page, sort or timestamp is a 400', async () => {
    for (const query of ['per_page=0', 'per_page=10000', 'per_page=abc', 'page=0', 'page=-1', 'sort=password', 'sort=name;drop', 'expires_before=yesterday', 'status=Bogus']) {
      const res = await api.http.get(`/api/v1/certificates?${query}`).set(api.auth());
      expectError(res, 400, 'VALIDATION_FAILED');
    }
    const max = await api.http.get('/api/v1/certificates?per_page=500').set(api.auth()).expect(200);
    expect(max.body.per_page).toBe(500);
  });

  it('an invalid client id, enum or policy config is a 400 naming the field', async () => {
    const badId = await api.http.post('/api/v1/teams').set(api.auth()).send({ id: 'has space', name: unique('t') });
    expect(badId.body.details[0].field).toBe('id');
    const badType = await api.http.post('/api/v1/issuers').set(api.auth()).send({ name: unique('i'), type: 'MadeUpCA' });
    expect(badType.status).toBe(400);
    expect(badType.body.details[0].field).toBe('type');
    const badPolicy = await api.http.post('/api/v1/policies').set(api.auth()).send({ name: unique('p'), type: 'AllowedDomains', config: { domains: 'example.com' } });
    expect(badPolicy.status).toBe(400);
    expect(badPolicy.body.details[0].field).toBe('config');
    const badRegex = await api.http.post('/api/v1/profiles').set(api.auth()).send({ name: unique('p'), required_san_patterns: ['(unclosed'] });
    expect(badRegex.body.details[0].field).toBe('required_san_patterns.0');
    const badNull = await api.http.put(`/api/v1/owners/${inv.ownerId}`).set(api.auth()).send({ name: null });
    expect(badNull.status).toBe(400);
  });

  it('no odd body makes any create endpoint answer 500', async () => {
    const endpoints = ['teams', 'owners', 'issuers', 'targets', 'agents', 'certificates', 'renewal-policies', 'profiles', 'policies', 'auth/keys'];
    const bodies: unknown[] = [[], [1, 2], 'text', 42, null, true, {}, { name: '' }, { name: 'x'.repeat(5000) }, { name: 12 },
      { name: { $ne: 1 } }, { id: '../../etc', name: 'y' }, { name: 'z', __proto__: { admin: true } }, { name: '\u0000' },
      { name: 'ok', config: [] }, { name: 'ok', sans: [null] }, { name: 'ok', tags: { a: 1 } }, { name: 'ok', expires_at: 'soon' }];
    for (const endpoint of endpoints) {
      for (const body of bodies) {
        const res = await api.http.post(`/api/v1/${endpoint}`).set(api.auth()).set('Content-Type', 'application/json').send(JSON.stringify(body));
        expect(res.status, `${endpoint} ${JSON.stringify(body)} -> ${res.status} ${JSON.stringify(res.body)}`).toBeLessThan(500);
        if (res.status >= 400) expect(res.body.code).toBeTypeOf('string');
      }
    }
  });
});
