import { Queue as BullQueue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_QUEUES, Queue } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { ApiHarness, startApi } from '../support/api-harness';

/** bull-board at /admin/queues on the api: admin only (key or session cookie), every queue, audited retry and promote. */
describe('queue dashboard (/admin/queues)', () => {
  let api: ApiHarness;
  let deadLetters: BullQueue;
  let viewerKey: string;

  beforeAll(async () => {
    api = await startApi();
    deadLetters = api.app.get(JobProducer).queue(Queue.NotifyDeadLetter);
    const created = await api.http.post('/api/v1/auth/keys').set(api.auth()).send({ name: 'dashboard-viewer', role: 'viewer' }).expect(201);
    viewerKey = created.body.key;
  });
  afterAll(async () => {
    await api?.close();
  });

  it('refuses anonymous callers (401), unknown keys (401) and non-admin keys (403)', async () => {
    await api.http.get('/admin/queues').expect(401);
    await api.http.get('/admin/queues/api/queues').expect(401);
    await api.http.get('/admin/queues/api/queues').set(api.auth('not-a-real-key-0123456789')).expect(401);
    const forbidden = await api.http.get('/admin/queues/api/queues').set(api.auth(viewerKey)).expect(403);
    expect(forbidden.body).toMatchObject({ code: 'FORBIDDEN' });
    await api.http.post('/admin/queues/session').set(api.auth(viewerKey)).expect(403);
    await api.http.get('/admin/queues/api/queues').set('Cookie', 'certctl_queues_session=forged').expect(401);
    // A browser gets a login form; a wrong key in it gets no session.
    const form = await api.http.get('/admin/queues/').set('Accept', 'text/html').expect(401);
    expect(form.text).toContain('name="api_key"');
    const wrong = await api.http.post('/admin/queues/session').type('form').send({ api_key: viewerKey }).expect(403);
    expect(wrong.headers['set-cookie']).toBeUndefined();
  });

  it('the login form exchanges an admin key for a session and redirects to the dashboard', async () => {
    const res = await api.http.post('/admin/queues/session').type('form').send({ api_key: api.adminKey }).expect(303);
    expect(res.headers.location).toBe('/admin/queues/');
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    const page = await api.http.get('/admin/queues/').set('Cookie', cookie).set('Accept', 'text/html').expect(200);
    expect(page.text).toContain('<html');
  });

  it('shows every queue, notify-dead-letter included, to an admin key and to the session cookie it obtains', async () => {
    const page = await api.http.get('/admin/queues').set(api.auth()).expect(200);
    expect(page.headers['content-type']).toContain('text/html');
    const listed = await api.http.get('/admin/queues/api/queues').set(api.auth()).expect(200);
    expect(listed.body.queues.map((q: { name: string }) => q.name).sort()).toEqual([...ALL_QUEUES].sort());

    const login = await api.http.post('/admin/queues/session').set(api.auth()).expect(204);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/certctl_queues_session=[^;]+;.*HttpOnly/);
    expect(setCookie).toContain('Path=/admin/queues');
    const cookie = setCookie.split(';')[0]!;
    const viaCookie = await api.http.get('/admin/queues/api/queues').set('Cookie', cookie).expect(200);
    expect(viaCookie.body.queues.map((q: { name: string }) => q.name)).toContain(Queue.NotifyDeadLetter);
  });

  it('retries a failed job and promotes a delayed one, each audited with the admin as actor; other actions are refused', async () => {
    // A failed dead-letter job, failed through BullMQ's own manual-processing API (the api runs no workers).
    await deadLetters.add('notification.dead', { notificationId: 'dash-1', lastError: 'smtp down' }, { jobId: 'dash-failed' });
    const { connection, prefix } = deadLetters.opts as { connection: object; prefix: string };
    const worker = new Worker(Queue.NotifyDeadLetter, null, { connection, prefix, autorun: false });
    try {
      const job = (await worker.getNextJob('operate-token'))!;
      expect(job.id).toBe('dash-failed');
      await job.moveToFailed(new Error('failed on purpose'), 'operate-token', false);
    } finally {
      await worker.close();
    }
    expect(await deadLetters.getJobState('dash-failed')).toBe('failed');
    await api.http.put(`/admin/queues/api/queues/${Queue.NotifyDeadLetter}/dash-failed/retry`).set(api.auth()).expect((r) => expect(r.status).toBeLessThan(300));
    expect(await deadLetters.getJobState('dash-failed')).toBe('waiting');

    await deadLetters.add('notification.dead', { notificationId: 'dash-2', lastError: 'slack 500' }, { jobId: 'dash-delayed', delay: 3_600_000 });
    expect(await deadLetters.getJobState('dash-delayed')).toBe('delayed');
    const cookie = String((await api.http.post('/admin/queues/session').set(api.auth()).expect(204)).headers['set-cookie']).split(';')[0]!;
    await api.http.put(`/admin/queues/api/queues/${Queue.NotifyDeadLetter}/dash-delayed/promote`).set('Cookie', cookie).expect((r) => expect(r.status).toBeLessThan(300));
    expect(await deadLetters.getJobState('dash-delayed')).toBe('waiting');

    await api.http.put(`/admin/queues/api/queues/${Queue.Notify}/empty`).set(api.auth()).expect(403);
    await api.http.put(`/admin/queues/api/queues/${Queue.NotifyDeadLetter}/dash-delayed/retry`).set(api.auth(viewerKey)).expect(403);

    await api.flushAudit();
    const rows = (await api.db.query(
      `SELECT actor, actor_type, action, resource_type, resource_id, details FROM audit_events WHERE action LIKE 'queue_job.%' ORDER BY seq`,
    )).rows;
    expect(rows).toEqual([
      { actor: 'bootstrap-admin', actor_type: 'APIKey', action: 'queue_job.retry', resource_type: 'queue_job', resource_id: 'notify-dead-letter/dash-failed',
        details: { queue: 'notify-dead-letter', job_id: 'dash-failed', via: 'queue_dashboard' } },
      { actor: 'bootstrap-admin', actor_type: 'APIKey', action: 'queue_job.promote', resource_type: 'queue_job', resource_id: 'notify-dead-letter/dash-delayed',
        details: { queue: 'notify-dead-letter', job_id: 'dash-delayed', via: 'queue_dashboard' } },
    ]);
  });
});
