import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';

describe('api boots', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => api?.close());

  it('answers /health and /ready without a key', async () => {
    await api.http.get('/health').expect(200, { status: 'healthy' });
    const ready = await api.http.get('/ready').expect(200);
    expect(ready.body.checks).toEqual({ database: 'ok', migrations: 'ok', redis: 'ok' });
  });

  it('creates and lists a team', async () => {
    const created = await api.http.post('/api/v1/teams').set(api.auth()).send({ name: 'platform' }).expect(201);
    expect(created.body.id).toMatch(/^team-/);
    const list = await api.http.get('/api/v1/teams').set(api.auth()).expect(200);
    expect(list.body).toMatchObject({ total: 1, page: 1, per_page: 50 });
  });
});
