import { randomBytes } from 'node:crypto';
import { Queue as BullQueue, Worker } from 'bullmq';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { createApiApp } from '../../apps/api/src/app.factory';
import { ApiHarness, startApi } from '../support/api-harness';
import { ApiSourceProcess } from '../support/api-source-process';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';

type Answer = { status: number; body: Record<string, unknown>; headers: Record<string, string> };

/** A 400 in the API's error shape, naming `field` in its details. */
function expectFieldError(res: Answer, field: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body).toMatchObject({ error: 'Bad Request', code: 'VALIDATION_FAILED' });
  expect(res.body.request_id).toBe(res.headers['x-request-id']);
  expect((res.body.details as Array<{ field: string }>).map((d) => d.field)).toContain(field);
}

/** Issue 19 items 7, 12 and 13: client mistakes are 400s, keys end exactly when they should, secrets stay out of logs. */
describe('trust boundaries: input, key lifetime, dashboard sessions', () => {
  let api: ApiHarness;
  let inv: Inventory;

  beforeAll(async () => {
    api = await startApi();
    inv = await createInventory(api);
  });
  afterAll(async () => api?.close());

  describe('client mistakes are 400s naming the field, never 500s', () => {
    it('a date field given an object, a number or an array', async () => {
      for (const expires_at of [{ toString: 1 }, { valueOf: 1 }, 1_900_000_000_000, ['2030-01-01T00:00:00Z']]) {
        const res = await api.http.post('/api/v1/auth/keys').set(api.auth()).send({ name: unique('k'), role: 'viewer', expires_at });
        expectFieldError(res, 'expires_at');
      }
    });

    it('a lone UTF-16 surrogate in an e-mail, a name or a nested string', async () => {
      const send = (path: string, json: string) => api.http.post(path).set(api.auth()).set('Content-Type', 'application/json').send(json);
      expectFieldError(await send('/api/v1/owners', `{"name":"${unique('o')}","email":"a\\ud800@example.com"}`), 'email');
      expectFieldError(await send('/api/v1/teams', `{"name":"t\\udfff"}`), 'name');
      const cert = JSON.stringify(certificateBody(inv)).replace(/"sans":\["/, '"sans":["\\ud800');
      expectFieldError(await send('/api/v1/certificates', cert), 'sans.0');
      // A well-formed pair (an emoji) is not a lone surrogate.
      const emoji = await send('/api/v1/teams', `{"name":"${unique('t')} \\ud83d\\ude00"}`);
      expect(emoji.status, JSON.stringify(emoji.body)).toBe(201);
    });

    it('JSON nested 20,000 deep, in arrays and in objects', async () => {
      const send = (json: string) => api.http.post('/api/v1/teams').set(api.auth()).set('Content-Type', 'application/json').send(json);
      const arrays = await send('['.repeat(20_000) + ']'.repeat(20_000));
      expect(arrays.status, JSON.stringify(arrays.body)).toBe(400);
      expect(arrays.body).toMatchObject({ code: 'VALIDATION_FAILED' });
      const objects = await send(`{"name":"x","description":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_001)}`);
      expect(objects.status, JSON.stringify(objects.body)).toBe(400);
      expect((objects.body.details as Array<{ field: string }>)[0]!.field).toMatch(/^description(\.a)+$/);
    });

    it('a malformed queue-dashboard session cookie is a 401 in the error shape', async () => {
      for (const value of ['%E0%A4%A', '%', 'x'.repeat(5000), '%00']) {
        const res = await api.http.get('/admin/queues/api/queues').set('Cookie', `certctl_queues_session=${value}`);
        expect(res.status, `${value.slice(0, 20)}: ${JSON.stringify(res.body)}`).toBe(401);
        expect(res.body).toMatchObject({ code: 'UNAUTHENTICATED', request_id: res.headers['x-request-id'] });
      }
      const badPath = await api.http.put('/admin/queues/api/queues/%E0%A4%A/x/retry').set(api.auth());
      expect(badPath.status).toBe(403);
    });
  });

  describe('API key lifetime and names', () => {
    it('a key stops working at its expires_at, even while its lookup is cached', async () => {
      const expiresAt = Date.now() + 1_500;
      const created = await post(api, '/api/v1/auth/keys', { name: unique('short'), role: 'viewer', expires_at: new Date(expiresAt).toISOString() });
      const answers: Array<{ sentAt: number; status: number }> = [];
      // Use the key continuously across its expiry: the lookup is cached (5 s) from the first call on.
      while (Date.now() < expiresAt + 300) {
        const sentAt = Date.now();
        const res = await api.http.get('/api/v1/teams').set(api.auth(created.key as string));
        answers.push({ sentAt, status: res.status });
      }
      expect(answers.filter((a) => a.sentAt < expiresAt - 200).every((a) => a.status === 200)).toBe(true);
      const late = answers.filter((a) => a.sentAt >= expiresAt);
      expect(late.length).toBeGreaterThan(0);
      expect(late.filter((a) => a.status !== 401)).toEqual([]);
    });

    it('an expires_at in the past is a 400 naming the field', async () => {
      for (const when of ['2001-01-01T00:00:00Z', new Date(Date.now() - 1000).toISOString()]) {
        const name = unique('past');
        expectFieldError(await api.http.post('/api/v1/auth/keys').set(api.auth()).send({ name, role: 'viewer', expires_at: when }), 'expires_at');
        expect((await api.db.query('SELECT count(*)::int AS n FROM api_keys WHERE name = $1', [name])).rows[0].n).toBe(0);
      }
    });

    it('control characters or markup in a common name, a name or an environment are a 400 naming the field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ common_name: 'a\nb.example.com' }, 'common_name'],
        [{ common_name: 'a\tb.example.com' }, 'common_name'],
        [{ common_name: 'a\u0085b.example.com' }, 'common_name'],
        [{ common_name: '<script>x</script>.example.com' }, 'common_name'],
        [{ name: 'svc\r\nX-Injected: 1' }, 'name'],
        [{ name: '<img src=x onerror=alert(1)>' }, 'name'],
        [{ environment: 'prod\n' }, 'environment'],
        [{ sans: ['https://a.example.com/\u0085'] }, 'sans'],
        [{ sans: ['spiffe://example.com/<script>'] }, 'sans'],
      ];
      for (const [override, field] of cases) {
        expectFieldError(await api.http.post('/api/v1/certificates').set(api.auth()).send(certificateBody(inv, override)), field);
      }
      expectFieldError(await api.http.post('/api/v1/teams').set(api.auth()).send({ name: 'a\nb' }), 'name');
      expectFieldError(await api.http.post('/api/v1/auth/keys').set(api.auth()).send({ name: 'k\u0007', role: 'viewer' }), 'name');
      // A description may still span lines.
      await post(api, '/api/v1/teams', { name: unique('t'), description: 'line one\nline two' });
    });
  });

  describe('queue dashboard session', () => {
    let deadLetters: BullQueue;

    beforeAll(() => {
      deadLetters = api.app.get(JobProducer).queue(Queue.NotifyDeadLetter);
    });

    async function failedJob(jobId: string): Promise<void> {
      await deadLetters.add('notification.dead', { notificationId: jobId, lastError: 'smtp down' }, { jobId });
      const { connection, prefix } = deadLetters.opts as { connection: object; prefix: string };
      const worker = new Worker(Queue.NotifyDeadLetter, null, { connection, prefix, autorun: false });
      try {
        const job = (await worker.getNextJob('trust-token'))!;
        expect(job.id).toBe(jobId);
        await job.moveToFailed(new Error('failed on purpose'), 'trust-token', false);
      } finally {
        await worker.close();
      }
      expect(await deadLetters.getJobState(jobId)).toBe('failed');
    }

    it('works while its key is valid; once the key is revoked, the next GET and retry are 401', async () => {
      const admin = await post(api, '/api/v1/auth/keys', { name: unique('dash-admin'), role: 'admin' });
      const login = await api.http.post('/admin/queues/session').set(api.auth(admin.key as string)).expect(204);
      const cookie = String(login.headers['set-cookie']).split(';')[0]!;
      await failedJob('trust-retry-1');
      await failedJob('trust-retry-2');
      await api.http.get('/admin/queues/api/queues').set('Cookie', cookie).expect(200);
      await api.http.put(`/admin/queues/api/queues/${Queue.NotifyDeadLetter}/trust-retry-1/retry`).set('Cookie', cookie)
        .expect((r) => expect(r.status).toBeLessThan(300));
      expect(await deadLetters.getJobState('trust-retry-1')).toBe('waiting');

      await api.http.delete(`/api/v1/auth/keys/${admin.id as string}`).set(api.auth()).expect(200);
      const get = await api.http.get('/admin/queues/api/queues').set('Cookie', cookie);
      expect(get.status).toBe(401);
      expect(get.body).toMatchObject({ code: 'UNAUTHENTICATED', request_id: get.headers['x-request-id'] });
      const retry = await api.http.put(`/admin/queues/api/queues/${Queue.NotifyDeadLetter}/trust-retry-2/retry`).set('Cookie', cookie);
      expect(retry.status).toBe(401);
      expect(await deadLetters.getJobState('trust-retry-2')).toBe('failed');
    });

    it('opened with the bootstrap key, ends when CERTCTL_API_KEY is rotated (another replica, or a restart, with a new key)', async () => {
      const login = await api.http.post('/admin/queues/session').set(api.auth()).expect(204);
      const cookie = String(login.headers['set-cookie']).split(';')[0]!;
      const previous = process.env.CERTCTL_API_KEY;
      const replica = async (bootstrapKey: string) => {
        process.env.CERTCTL_API_KEY = bootstrapKey;
        const app = await createApiApp();
        await app.init();
        return app;
      };
      const same = await replica(api.adminKey);
      const rotated = await replica(`rotated-admin-${randomBytes(12).toString('hex')}`);
      try {
        await request(same.getHttpServer()).get('/admin/queues/api/queues').set('Cookie', cookie).expect(200);
        await request(rotated.getHttpServer()).get('/admin/queues/api/queues').set('Cookie', cookie).expect(401);
      } finally {
        process.env.CERTCTL_API_KEY = previous;
        await same.close();
        await rotated.close();
      }
    });

    it('ends when its key expires, checked against the database on each request', async () => {
      const admin = await post(api, '/api/v1/auth/keys', { name: unique('dash-exp'), role: 'admin', expires_at: new Date(Date.now() + 60_000).toISOString() });
      const login = await api.http.post('/admin/queues/session').set(api.auth(admin.key as string)).expect(204);
      const cookie = String(login.headers['set-cookie']).split(';')[0]!;
      await api.http.get('/admin/queues/api/queues').set('Cookie', cookie).expect(200);
      // The key's expiry brought forward in the database, as time passing would.
      await api.db.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [admin.id]);
      await api.http.get('/admin/queues/api/queues').set('Cookie', cookie).expect(401);
    });
  });
});

describe('request log redaction', () => {
  let api: ApiSourceProcess;

  beforeAll(async () => {
    api = await ApiSourceProcess.start({ CERTCTL_LOG_FORMAT: 'json', CERTCTL_LOG_LEVEL: 'info' });
  }, 120_000);
  afterAll(async () => api?.stop());

  it('never writes a credential given as a query parameter to the api log', async () => {
    const secrets = {
      api_key: `cck_${unique('querykey')}`, token: unique('tok'), access_token: unique('acc'), 'X-Amz-Signature': unique('sig'),
    };
    const marker = unique('marker');
    const query = Object.entries(secrets).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const res = await fetch(`${api.baseUrl}/api/v1/teams?${query}&marker=${marker}`, { headers: { Authorization: `Bearer ${api.adminKey}` } });
    expect(res.status).toBeLessThan(500);
    // Wait for the request's line (async stdout), then look for the secrets in everything the api wrote.
    const deadline = Date.now() + 10_000;
    while (!api.logs().includes(marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const logs = api.logs();
    expect(logs).toContain(marker);
    expect(logs).toContain('api_key=[REDACTED]');
    for (const secret of Object.values(secrets)) expect(logs).not.toContain(secret);
  });
});
