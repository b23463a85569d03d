import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueJobId } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { createWorkerApp } from '@certctl/observability';
import { createApiApp } from '../../apps/api/src/app.factory';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, keyWithRole, post, unique } from '../support/fixtures';
import { HttpSink, startHttpSink, waitFor } from '../support/notifier-peers';

/**
 * Retry, dead letter, requeue and the notifications API, with a real notifier and a local webhook sink whose
 * answers each test scripts. Backoff is 40 ms doubling to a 200 ms cap, 5 attempts, so the policy is
 * observable in milliseconds.
 */
const BASE_MS = 40;
const CAP_MS = 200;

describe('notifier retry, dead letter and requeue', () => {
  let sink: HttpSink;
  let api: ApiHarness;
  let notifier: INestApplication;
  const scripts = new Map<string, (req: { at: number }, n: number) => number | Promise<number>>();

  beforeAll(async () => {
    sink = await startHttpSink();
    sink.respond = (req) => {
      const script = scripts.get(req.path);
      return script ? script(req, sink.on(req.path).length) : 200;
    };
    api = await startApi({
      CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true',
      CERTCTL_NOTIFICATION_BACKOFF_BASE: `${BASE_MS}ms`,
      CERTCTL_NOTIFICATION_BACKOFF_MAX: `${CAP_MS}ms`,
      CERTCTL_NOTIFICATION_MAX_ATTEMPTS: '5',
      CERTCTL_NOTIFICATION_RETRY_INTERVAL: '1s',
      CERTCTL_WEBHOOK_URL: `${sink.url}/default`,
    });
    notifier = await createWorkerApp('notifier', [NotifierModule]);
    await notifier.init();
  });

  afterAll(async () => {
    await notifier?.close();
    await api?.close();
    await sink?.close();
  });

  /** A webhook notification to `${sink}/path`, raised through the API. */
  async function raise(path: string, type = 'RenewalFailure'): Promise<string> {
    const created = await post(api, '/api/v1/notifications', { type, channel: 'Webhook', recipient: `${sink.url}${path}`, message: `alert for ${path}` });
    return created.id as string;
  }

  async function row(id: string) {
    const { rows } = await api.db.query(`SELECT * FROM notification_events WHERE id = $1`, [id]);
    return rows[0];
  }

  const untilStatus = (id: string, status: string, timeoutMs = 20_000) =>
    waitFor(`${id} ${status}`, async () => { const r = await row(id); return r.status === status && r; }, timeoutMs);

  const deadLetter = (id: string) => api.app.get(JobProducer).queue('notify-dead-letter').getJob(queueJobId('notification.dead', id));

  it('retries with 2^(n-1) x base waits (capped), records each failure on the row, then dead-letters after the 5th', async () => {
    const path = '/always-503';
    const seen: Array<{ status: string; retry_count: number; next_retry_at: Date | null; last_error: string | null; at: number }> = [];
    // Before answering, note the row as the attempt found it.
    scripts.set(path, async (req) => {
      const { rows } = await api.db.query(`SELECT status, retry_count, next_retry_at, last_error FROM notification_events WHERE recipient = $1`, [`${sink.url}${path}`]);
      seen.push({ ...rows[0], at: req.at });
      return 503;
    });
    const id = await raise(path);
    const dead = await untilStatus(id, 'dead');

    const attempts = sink.on(path);
    expect(attempts).toHaveLength(5);
    expect(dead.retry_count).toBe(5);
    expect(dead.last_error).toMatch(/^gave up after 5 attempts: HTTP 503 from 127\.0\.0\.1:\d+/);
    expect(dead.next_retry_at).toBeNull();
    expect(dead.sent_at).toBeNull();

    // Each attempt after the first found the previous failure recorded: failed, counted, error and retry time set.
    expect(seen[0]).toMatchObject({ status: 'pending', retry_count: 0, next_retry_at: null });
    for (let n = 2; n <= 5; n++) {
      expect(seen[n - 1]).toMatchObject({ status: 'failed', retry_count: n - 1, last_error: expect.stringMatching(/^HTTP 503/) });
      expect(seen[n - 1]!.next_retry_at).not.toBeNull();
    }

    // The waits: 40, 80, 160, then 200 (capped) ms; never shorter, and not much longer on a busy machine.
    const waits = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
    const expected = [BASE_MS, 2 * BASE_MS, 4 * BASE_MS, CAP_MS];
    waits.forEach((wait, i) => {
      expect(wait).toBeGreaterThanOrEqual(expected[i]! - 5);
      expect(wait).toBeLessThan(expected[i]! + 1_500);
    });
    // The scheduled retry time on the row matches the wait that followed.
    for (let n = 2; n <= 5; n++) {
      const planned = new Date(seen[n - 1]!.next_retry_at!).getTime();
      expect(Math.abs(planned - attempts[n - 1]!.at)).toBeLessThan(1_500);
    }

    // The dead letter carries the original payload and the last error.
    const letter = await waitFor('dead letter', () => deadLetter(id));
    expect(letter.name).toBe('notification.dead');
    expect(letter.data).toMatchObject({ notificationId: id, lastError: dead.last_error });
    expect(typeof letter.data.correlationId).toBe('string');
  });

  it('dead-letters at once, with the reason, on a 4xx other than 408/429', async () => {
    const path = '/gone-410';
    scripts.set(path, () => 410);
    const id = await raise(path);
    const dead = await untilStatus(id, 'dead');
    expect(sink.on(path)).toHaveLength(1);
    expect(dead.retry_count).toBe(1);
    expect(dead.last_error).toMatch(/^permanent failure: HTTP 410 from 127\.0\.0\.1:\d+: \{"errors":\["nope"\]\}/);
    expect(await waitFor('dead letter', () => deadLetter(id))).toBeTruthy();
  });

  it.each([408, 429])('retries a %i, and the sent row keeps the retry count', async (status) => {
    const path = `/first-${status}`;
    scripts.set(path, (_req, n) => (n === 1 ? status : 200));
    const id = await raise(path);
    const sent = await untilStatus(id, 'sent');
    expect(sink.on(path)).toHaveLength(2);
    expect(sent.retry_count).toBe(1);
    expect(sent.last_error).toMatch(new RegExp(`^HTTP ${status}`));
    expect(sent.next_retry_at).toBeNull();
    expect(sent.sent_at).not.toBeNull();
  });

  it('requeues a dead row: pending, counters and error cleared, out of the dead letter, delivered exactly once more', async () => {
    const path = '/recovers-later';
    let healthy = false;
    scripts.set(path, () => (healthy ? 200 : 500));
    const id = await raise(path);
    await untilStatus(id, 'dead');
    await waitFor('dead letter', () => deadLetter(id));
    const before = sink.on(path).length;

    healthy = true;
    const res = await api.http.post(`/api/v1/notifications/${id}/requeue`).set(api.auth());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, status: 'pending', retry_count: 0 });
    // Cleared fields are unset, and unset fields are omitted (certctl's omitempty).
    expect(res.body).not.toHaveProperty('last_error');
    expect(res.body).not.toHaveProperty('next_retry_at');
    expect(await deadLetter(id)).toBeUndefined();

    const sent = await untilStatus(id, 'sent');
    expect(sent.retry_count).toBe(0);
    // Exactly one more delivery, and no stray retry afterwards.
    await new Promise((r) => setTimeout(r, 4 * CAP_MS));
    expect(sink.on(path).length - before).toBe(1);
    expect(sink.on(path).filter((r) => r.json.id === id).length - before).toBe(1);
  });

  it('requeue answers 404 for an unknown id and 409 for a sent row; read only takes delivered or dead rows', async () => {
    await api.http.post('/api/v1/notifications/notif-nope/requeue').set(api.auth()).expect(404)
      .expect((r) => expect(r.body).toMatchObject({ code: 'NOTIFICATION_NOT_FOUND' }));
    const id = await raise('/fine');
    await untilStatus(id, 'sent');
    const conflict = await api.http.post(`/api/v1/notifications/${id}/requeue`).set(api.auth()).expect(409);
    expect(conflict.body).toMatchObject({ code: 'NOTIFICATION_NOT_REQUEUEABLE', message: expect.stringContaining('is sent') });

    const read = await api.http.post(`/api/v1/notifications/${id}/read`).set(api.auth()).expect(200);
    expect(read.body.status).toBe('read');
    await api.http.post(`/api/v1/notifications/${id}/requeue`).set(api.auth()).expect(409);

    const pendingPath = '/slow';
    let release: () => void = () => undefined;
    scripts.set(pendingPath, () => new Promise<number>((done) => (release = () => done(200))));
    const inFlight = await raise(pendingPath);
    await waitFor('delivery started', () => sink.on(pendingPath).length > 0);
    await api.http.post(`/api/v1/notifications/${inFlight}/read`).set(api.auth()).expect(409)
      .expect((r) => expect(r.body.code).toBe('NOTIFICATION_IN_FLIGHT'));
    release();
    await untilStatus(inFlight, 'sent');
  });

  it('bulk-requeues the dead rows matching a filter and leaves the others dead', async () => {
    const path = '/bulk';
    let healthy = false;
    scripts.set(path, () => (healthy ? 200 : 400));
    const revocations = [await raise(path, 'Revocation'), await raise(path, 'Revocation')];
    const other = await raise(path, 'DeploymentFailure');
    for (const id of [...revocations, other]) await untilStatus(id, 'dead');
    healthy = true;

    const res = await api.http.post('/api/v1/notifications/bulk-requeue').set(api.auth()).send({ type: 'Revocation', channel: 'Webhook' }).expect(200);
    expect(res.body.total_matched).toBeGreaterThanOrEqual(2);
    expect(res.body.notification_ids).toEqual(expect.arrayContaining(revocations));
    expect(res.body.notification_ids).not.toContain(other);
    expect(res.body.total_requeued).toBe(res.body.total_matched);
    for (const id of revocations) await untilStatus(id, 'sent');
    expect((await row(other)).status).toBe('dead');

    // Acknowledging the one left dead takes it out of the dead-letter queue as well.
    await waitFor('dead letter', () => deadLetter(other));
    await api.http.post(`/api/v1/notifications/${other}/read`).set(api.auth()).expect(200);
    expect(await deadLetter(other)).toBeUndefined();

    await api.http.post('/api/v1/notifications/bulk-requeue').set(api.auth()).send({ status: 'sent' }).expect(400);
    await api.http.post('/api/v1/notifications/bulk-requeue').set(await viewer()).send({}).expect(403);
  });

  let viewerKey: string | undefined;
  async function viewer() {
    viewerKey ??= await keyWithRole(api, 'viewer');
    return api.auth(viewerKey);
  }

  it('lists with filters (status incl. dead, type, channel, certificate_id) in the certctl envelope', async () => {
    const dead = await api.http.get('/api/v1/notifications?status=dead&per_page=500').set(api.auth()).expect(200);
    expect(dead.body).toMatchObject({ page: 1, per_page: 500 });
    expect(dead.body.total).toBeGreaterThanOrEqual(2);
    expect(dead.body.data.every((n: { status: string }) => n.status === 'dead')).toBe(true);

    const byType = await api.http.get('/api/v1/notifications?type=DeploymentFailure&channel=Webhook').set(await viewer()).expect(200);
    expect(byType.body.data.length).toBeGreaterThan(0);
    expect(byType.body.data.every((n: { type: string; channel: string }) => n.type === 'DeploymentFailure' && n.channel === 'Webhook')).toBe(true);

    const inventory = await createInventory(api);
    const cert = await post(api, '/api/v1/certificates', certificateBody(inventory));
    const forCert = await post(api, '/api/v1/notifications', { type: 'PolicyViolation', channel: 'Webhook', certificate_id: cert.id, message: 'violation' });
    const listed = await api.http.get(`/api/v1/notifications?certificate_id=${cert.id}`).set(api.auth()).expect(200);
    expect(listed.body.data.map((n: { id: string }) => n.id)).toEqual([forCert.id]);
    const one = await api.http.get(`/api/v1/notifications/${forCert.id}`).set(api.auth()).expect(200);
    expect(one.body).toMatchObject({ id: forCert.id, certificate_id: cert.id, details: { certificate_name: cert.name, severity: 'warning' } });

    await api.http.get('/api/v1/notifications?status=lost').set(api.auth()).expect(400);
    await api.http.get('/api/v1/notifications?channel=Pager').set(api.auth()).expect(400);
    await api.http.get('/api/v1/notifications/notif-nope').set(api.auth()).expect(404);
  });

  it('refuses bad input: unknown channels, malformed or reserved webhook URLs', async () => {
    const policy = await api.http.post('/api/v1/renewal-policies').set(api.auth())
      .send({ name: unique('policy'), alert_channels: { critical: ['Email', 'Carrier-Pigeon'] } }).expect(400);
    expect(policy.body.message).toContain('alert_channels.critical');

    const bad = (body: object) => api.http.post('/api/v1/notifications').set(api.auth()).send({ type: 'RenewalFailure', message: 'x', ...body });
    await bad({ channel: 'Pager' }).expect(400);
    for (const [recipient, reason] of [
      ['not a url', /not a valid URL/],
      ['ftp://example.com/hook', /must use http/],
      ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
      ['http://[fe80::1]/hook', /link-local/],
      ['http://0.0.0.0:8080/hook', /"this network"/],
    ] as const) {
      const res = await bad({ channel: 'Webhook', recipient }).expect(400);
      expect(res.body).toMatchObject({ code: 'INVALID_WEBHOOK_URL', details: [{ field: 'recipient' }] });
      expect(res.body.message).toMatch(reason);
    }
    await bad({ channel: 'Email', recipient: 'not-an-address' }).expect(400);
    await bad({ channel: 'PagerDuty', recipient: 'http://example.com/' }).expect(400);
    await bad({ channel: 'Webhook', certificate_id: 'mc-does-not-exist' }).expect(400)
      .expect((r) => expect(r.body.code).toBe('REFERENCE_NOT_FOUND'));
  });

  it('counts dead notifications in stats and metrics, and every api replica reports the same cluster-wide counters', async () => {
    await waitFor('no delivery in flight', async () => {
      const { rows: busy } = await api.db.query(`SELECT count(*)::int AS n FROM notification_events WHERE status IN ('pending', 'failed')`);
      return busy[0].n === 0;
    });
    const { rows } = await api.db.query(`SELECT count(*)::int AS dead FROM notification_events WHERE status = 'dead'`);
    const summary = await api.http.get('/api/v1/stats/summary').set(api.auth()).expect(200);
    expect(summary.body.notifications_dead).toBe(rows[0].dead);

    const json = await api.http.get('/api/v1/metrics').set(await viewer()).expect(200);
    expect(Object.keys(json.body)).toEqual(['gauge', 'counter', 'uptime', 'ocsp', 'crl']);
    expect(json.body.counter).toEqual({ job_completed_total: expect.any(Number), job_failed_total: expect.any(Number), notifications_dead_total: rows[0].dead });
    expect(Object.keys(json.body.gauge)).toEqual([
      'certificate_total', 'certificate_active', 'certificate_expiring_soon', 'certificate_expired', 'certificate_revoked',
      'agent_total', 'agent_online', 'job_pending',
    ]);
    expect(json.body.uptime).toMatchObject({ uptime_seconds: expect.any(Number), server_started: expect.any(String), measured_at: expect.any(String) });

    const { rows: attempts } = await api.db.query(
      `SELECT count(*) FILTER (WHERE sent_at IS NOT NULL)::int AS sent FROM notification_events WHERE channel = 'Webhook'`);
    const prom = await api.http.get('/api/v1/metrics/prometheus').set(api.auth()).expect(200);
    expect(prom.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const family of [
      'certctl_certificate_total gauge', 'certctl_certificate_active gauge', 'certctl_certificate_expiring_soon gauge',
      'certctl_certificate_expired gauge', 'certctl_certificate_revoked gauge', 'certctl_agent_total gauge', 'certctl_agent_online gauge',
      'certctl_job_pending gauge', 'certctl_job_completed_total counter', 'certctl_job_failed_total counter', 'certctl_uptime_seconds gauge',
      'certctl_notification_dead_total counter', 'certctl_notification_sent_total counter', 'certctl_notification_failures_total counter',
    ]) {
      expect(prom.text).toContain(`# TYPE ${family}`);
      expect(prom.text).toContain(`# HELP ${family.split(' ')[0]} `);
    }
    // The gauge is the rows dead now; the counter counts every dead-lettering, so the rows requeued by the tests
    // above (some delivered since) keep it above the gauge: a requeue never makes it go down.
    expect(prom.text).toContain('# TYPE certctl_notification_dead gauge');
    expect(prom.text).toContain(`certctl_notification_dead ${rows[0].dead}\n`);
    const deadLetterings = Number(/^certctl_notification_dead_total (\d+)$/m.exec(prom.text)?.[1]);
    expect(deadLetterings).toBeGreaterThan(rows[0].dead);
    const sentSeries = Number(/certctl_notification_sent_total\{channel="Webhook"\} (\d+)/.exec(prom.text)?.[1]);
    expect(sentSeries).toBeGreaterThanOrEqual(attempts[0].sent);
    expect(Number(/certctl_notification_failures_total\{channel="Webhook"\} (\d+)/.exec(prom.text)?.[1])).toBeGreaterThanOrEqual(5 + 1 + 2 + 5 + 3);
    expect(prom.text).toContain('certctl_notification_sent_total{channel="Email"} 0');

    // A second api process on the same database and Redis (another replica) answers the same counters.
    const replica = await createApiApp();
    await replica.init();
    try {
      const { default: request } = await import('supertest');
      const other = await request(replica.getHttpServer()).get('/api/v1/metrics/prometheus').set(api.auth()).expect(200);
      const pick = (text: string) => text.split('\n').filter((l) => /^certctl_notification_(sent|failures)_total\{/.test(l));
      expect(pick(other.text)).toEqual(pick(prom.text));
    } finally {
      await replica.close();
    }
  });

  it('refuses to send the digest without recipients (400) or without SMTP (409)', async () => {
    await api.http.post('/api/v1/digest/send').set(api.auth()).send({}).expect(400)
      .expect((r) => expect(r.body.details).toEqual([{ field: 'recipients', message: expect.stringContaining('CERTCTL_DIGEST_RECIPIENTS') }]));
    await api.http.post('/api/v1/digest/send').set(api.auth()).send({ recipients: ['ops@example.com'] }).expect(409)
      .expect((r) => expect(r.body.code).toBe('EMAIL_NOT_CONFIGURED'));
    await api.http.post('/api/v1/digest/send').set(await viewer()).send({ recipients: ['ops@example.com'] }).expect(403);
  });
});
