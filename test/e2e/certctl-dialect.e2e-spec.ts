import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from '../support/api-harness';
import { createInventory, certificateBody, keyWithRole, post, unique, type Inventory } from '../support/fixtures';

/** The shapes certctl's own clients expect from us (issue 14, item 1). */
describe('certctl dialect: shapes', () => {
  let api: ApiHarness;
  let inv: Inventory;

  beforeAll(async () => {
    api = await startApi();
    inv = await createInventory(api);
  });
  afterAll(async () => api?.close());

  it('answers unknown routes with the JSON error shape and audits them with the real actor', async () => {
    for (const [method, path] of [['get', '/api/v1/no-such-thing'], ['post', '/api/v1/certificates/x/nope'], ['get', '/nowhere']] as const) {
      const res = await api.http[method](path).set(api.auth());
      expect(res.status, path).toBe(404);
      expect(res.headers['content-type'], path).toContain('application/json');
      expect(res.body, path).toMatchObject({ error: 'Not Found', code: 'NOT_FOUND', request_id: expect.any(String) });
    }
    const operator = await keyWithRole(api, 'operator');
    await api.http.delete('/api/v1/unknown-resource/1').set(api.auth(operator)).expect(404);
    await api.flushAudit();
    const { rows } = await api.db.query(`SELECT actor, actor_type, details FROM audit_events WHERE action = 'api_delete' AND resource_id = '/api/v1/unknown-resource/1'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].actor).not.toBe('anonymous');
    expect(rows[0]).toMatchObject({ actor_type: 'APIKey', details: { status: 404 } });
  });
});
