import { createHmac } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueNotifications, JobProducer, recordNotifications } from '@certctl/db';
import { createWorkerApp } from '@certctl/observability';
import { DigestScheduler } from '../../apps/notifier/src/digest.scheduler';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { HttpSink, SmtpPeer, startHttpSink, startSmtpPeer, waitFor } from '../support/notifier-peers';

/**
 * The six channels against real peers: nodemailer to a real SMTP server (STARTTLS, AUTH), and a local HTTP
 * server standing in for Slack, Teams, PagerDuty, OpsGenie and a generic webhook. Each payload is checked
 * against the vendor's documented format; the webhook's HMAC signature is verified as a receiver would.
 */
const WEBHOOK_SECRET = 'whsec-test-0123456789abcdef';
const ROUTING_KEY = 'R0UTINGKEY0123456789abcdefghijk';
const OPSGENIE_KEY = 'og-api-key-0123456789';
const LINK_BASE = 'https://certctl.example.com';

describe('notifier channels', () => {
  let sink: HttpSink;
  let smtp: SmtpPeer;
  let api: ApiHarness;
  let notifier: INestApplication;
  let inventory: Inventory;
  let dataSource: DataSource;

  beforeAll(async () => {
    [sink, smtp] = await Promise.all([startHttpSink(), startSmtpPeer()]);
    api = await startApi({
      CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true',
      CERTCTL_NOTIFICATION_LINK_BASE_URL: LINK_BASE,
      CERTCTL_NOTIFICATION_BACKOFF_BASE: '20ms',
      CERTCTL_NOTIFICATION_BACKOFF_MAX: '100ms',
      CERTCTL_NOTIFICATION_RETRY_INTERVAL: '1s',
      CERTCTL_SMTP_HOST: '127.0.0.1',
      CERTCTL_SMTP_PORT: String(smtp.port),
      CERTCTL_SMTP_USERNAME: smtp.username,
      CERTCTL_SMTP_PASSWORD: smtp.password,
      CERTCTL_SMTP_FROM_ADDRESS: 'certctl@example.com',
      CERTCTL_SMTP_USE_TLS: 'true',
      CERTCTL_SMTP_CA_CERT_PATH: smtp.caCertPath,
      CERTCTL_SLACK_WEBHOOK_URL: `${sink.url}/slack/T000/B000/secretpath`,
      CERTCTL_SLACK_CHANNEL: '#certs',
      CERTCTL_TEAMS_WEBHOOK_URL: `${sink.url}/teams`,
      CERTCTL_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      CERTCTL_PAGERDUTY_EVENTS_URL: `${sink.url}/pagerduty/v2/enqueue`,
      CERTCTL_OPSGENIE_API_KEY: OPSGENIE_KEY,
      CERTCTL_OPSGENIE_API_URL: `${sink.url}/opsgenie/v2/alerts`,
      CERTCTL_WEBHOOK_URL: `${sink.url}/hook`,
      CERTCTL_WEBHOOK_SECRET: WEBHOOK_SECRET,
      CERTCTL_DIGEST_RECIPIENTS: 'ops@example.com, security@example.com',
    });
    notifier = await createWorkerApp('notifier', [NotifierModule]);
    await notifier.init();
    inventory = await createInventory(api);
    dataSource = api.app.get(DataSource);
  });

  afterAll(async () => {
    await notifier?.close();
    await api?.close();
    await Promise.all([sink?.close(), smtp?.close()]);
  });

  /** Records an alert the way the orchestrator does (row in a transaction, enqueue after commit). */
  async function raise(request: Parameters<typeof recordNotifications>[1]): Promise<string[]> {
    const ids = await dataSource.transaction((tx) => recordNotifications(tx, request));
    await enqueueNotifications(api.app.get(JobProducer), ids, 'req-test-1');
    return ids;
  }

  async function rowsOf(ids: string[]) {
    const { rows } = await api.db.query(`SELECT * FROM notification_events WHERE id = ANY($1) ORDER BY channel`, [ids]);
    return rows;
  }

  async function certificateExpiringIn(days: number, policyId: string) {
    const cert = await post(api, '/api/v1/certificates', certificateBody(inventory, { renewal_policy_id: policyId }));
    const expires = new Date(Date.now() + days * 86_400_000 + 3_600_000);
    await api.db.query(`UPDATE managed_certificates SET expires_at = $2, status = 'Expiring' WHERE id = $1`, [cert.id, expires]);
    return { id: cert.id as string, name: cert.name as string, commonName: cert.common_name as string, expires };
  }

  it('routes a 7-day expiry warning to every channel of the policy\'s critical tier, each in its documented format', async () => {
    const policy = await post(api, '/api/v1/renewal-policies', {
      name: unique('policy'),
      alert_channels: { critical: ['Email', 'Slack', 'Teams', 'PagerDuty', 'OpsGenie', 'Webhook'], warning: ['Email'] },
      alert_severity_map: { '30': 'warning', '7': 'critical' },
    });
    const cert = await certificateExpiringIn(7, policy.id);
    const ids = await raise({ type: 'ExpirationWarning', certificate_id: cert.id, message: `${cert.name} expires in 7 days`, threshold_days: 7 });
    expect(ids).toHaveLength(6);

    const rows = await waitFor('six sent rows', async () => {
      const r = await rowsOf(ids);
      return r.every((row) => row.status === 'sent') && r;
    });
    expect(rows.map((r) => r.channel)).toEqual(['Email', 'OpsGenie', 'PagerDuty', 'Slack', 'Teams', 'Webhook']);
    for (const row of rows) {
      expect(row).toMatchObject({ retry_count: 0, certificate_id: cert.id, type: 'ExpirationWarning' });
      expect(row.sent_at).not.toBeNull();
      expect(row.details).toMatchObject({ severity: 'critical', threshold_days: 7, certificate_name: cert.name });
    }
    const link = `${LINK_BASE}/certificates/${cert.id}`;

    // Email: owner's address, over STARTTLS with AUTH, saying what, which certificate, when and where.
    const mail = await waitFor('the email', () => smtp.messages.find((m) => m.subject.includes(cert.name)));
    expect(rows.find((r) => r.channel === 'Email')!.recipient).toBe('owner@example.com');
    expect(mail).toMatchObject({ from: 'certctl@example.com', to: ['owner@example.com'], secure: true, user: smtp.username });
    expect(mail.subject).toBe(`[certctl] Certificate ${cert.name} expires in 7 days`);
    expect(mail.text).toContain(`Expires: ${cert.expires.toISOString()} (expires in 7 days)`);
    expect(mail.text).toContain(`Link: ${link}`);
    expect(mail.raw).toContain('Content-Type: text/html');

    // Slack incoming webhook: fallback text plus Block Kit blocks; channel and username overrides.
    const [slack] = sink.on('/slack/T000/B000/secretpath');
    expect(slack!.headers['content-type']).toBe('application/json');
    expect(slack!.json).toMatchObject({ channel: '#certs', username: 'certctl', text: expect.stringContaining(cert.name) });
    const [header, section, context] = slack!.json.blocks;
    expect(header).toEqual({ type: 'header', text: { type: 'plain_text', text: `Certificate ${cert.name} expires in 7 days`, emoji: false } });
    expect(section.type).toBe('section');
    expect(section.text.type).toBe('mrkdwn');
    expect(section.fields).toContainEqual({ type: 'mrkdwn', text: `*Certificate*\n<${link}|${cert.name}>` });
    expect(section.fields.length).toBeLessThanOrEqual(10);
    expect(context).toMatchObject({ type: 'context', elements: [{ type: 'mrkdwn' }] });

    // Teams: a message with one Adaptive Card attachment and an OpenUrl action to the certificate.
    const [teams] = sink.on('/teams');
    expect(teams!.json.type).toBe('message');
    expect(teams!.json.attachments).toHaveLength(1);
    const card = teams!.json.attachments[0];
    expect(card.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card.content).toMatchObject({ type: 'AdaptiveCard', version: '1.4', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(card.content.body[0]).toMatchObject({ type: 'TextBlock', text: `Certificate ${cert.name} expires in 7 days`, color: 'Attention' });
    expect(card.content.body[2].type).toBe('FactSet');
    expect(card.content.actions).toEqual([{ type: 'Action.OpenUrl', title: 'View certificate', url: link }]);

    // PagerDuty Events API v2: trigger with a dedup key per certificate and event.
    const [pd] = sink.on('/pagerduty/v2/enqueue');
    expect(pd!.json).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: `certctl/${cert.id}/ExpirationWarning`,
      client: 'certctl',
      client_url: link,
      links: [{ href: link, text: 'View certificate in certctl' }],
      payload: { severity: 'critical', source: cert.commonName, class: 'ExpirationWarning', custom_details: { certificate_id: cert.id, expires_at: cert.expires.toISOString() } },
    });
    expect(pd!.json.payload.summary.length).toBeLessThanOrEqual(1024);
    expect(new Date(pd!.json.payload.timestamp).toISOString()).toBe(pd!.json.payload.timestamp);

    // OpsGenie Alert API: GenieKey authorization, message ≤ 130, alias for deduplication, priority.
    const [og] = sink.on('/opsgenie/v2/alerts');
    expect(og!.headers.authorization).toBe(`GenieKey ${OPSGENIE_KEY}`);
    expect(og!.json).toMatchObject({
      alias: `certctl/${cert.id}/ExpirationWarning`, priority: 'P1', source: 'certctl', entity: cert.name,
      tags: ['certctl', 'ExpirationWarning', 'critical'], details: { certificate_id: cert.id, link },
    });
    expect(og!.json.message.length).toBeLessThanOrEqual(130);
    expect(og!.json.description).toContain(`Link: ${link}`);

    // Webhook: verify the HMAC over the exact body bytes, as a receiver would; idempotency key and timestamp.
    const [hook] = sink.on('/hook');
    const expected = createHmac('sha256', WEBHOOK_SECRET).update(hook!.raw).digest('hex');
    expect(hook!.headers['x-signature']).toBe(expected);
    expect(hook!.headers['x-signature-algorithm']).toBe('sha256');
    const webhookRow = rows.find((r) => r.channel === 'Webhook')!;
    expect(hook!.headers['x-certctl-idempotency-key']).toBe(webhookRow.id);
    expect(hook!.headers['idempotency-key']).toBe(webhookRow.id);
    expect(Math.abs(Number(hook!.headers['x-certctl-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(hook!.json).toMatchObject({
      id: webhookRow.id, idempotency_key: webhookRow.id, timestamp: Number(hook!.headers['x-certctl-timestamp']),
      event_type: 'ExpirationWarning', severity: 'critical',
      certificate: { id: cert.id, name: cert.name, expires_at: cert.expires.toISOString(), days_left: 7, url: link, deleted: false },
    });
    // A body altered in transit no longer matches the signature.
    expect(createHmac('sha256', WEBHOOK_SECRET).update(hook!.raw.replace('critical', 'info')).digest('hex')).not.toBe(expected);
  });

  it('takes the policy tier from the severity map and falls back to the environment default (Email)', async () => {
    const policy = await post(api, '/api/v1/renewal-policies', {
      name: unique('policy'), alert_channels: { critical: ['Webhook'] }, alert_severity_map: { '30': 'warning', '7': 'critical' },
    });
    const cert = await certificateExpiringIn(25, policy.id);
    const warning = await raise({ type: 'ExpirationWarning', certificate_id: cert.id, message: 'thirty-day warning', threshold_days: 30 });
    const critical = await raise({ type: 'ExpirationWarning', certificate_id: cert.id, message: 'last-week warning', threshold_days: 5 });
    expect((await rowsOf(warning)).map((r) => [r.channel, r.details.severity])).toEqual([['Email', 'warning']]);
    expect((await rowsOf(critical)).map((r) => [r.channel, r.details.severity])).toEqual([['Webhook', 'critical']]);
    await waitFor('both delivered', async () => (await rowsOf([...warning, ...critical])).every((r) => r.status === 'sent'));
  });

  it('still delivers, with what was known, an alert whose certificate was deleted before it went out', async () => {
    const policy = await post(api, '/api/v1/renewal-policies', { name: unique('policy'), alert_channels: { critical: ['Webhook', 'Email'] } });
    const cert = await certificateExpiringIn(3, policy.id);
    const ids = await dataSource.transaction(async (tx) => {
      const created = await recordNotifications(tx, { type: 'Revocation', certificate_id: cert.id, message: 'revoked: keyCompromise' });
      await tx.query(`DELETE FROM managed_certificates WHERE id = $1`, [cert.id]);
      return created;
    });
    await enqueueNotifications(api.app.get(JobProducer), ids);
    const rows = await waitFor('delivery', async () => {
      const r = await rowsOf(ids);
      return r.every((row) => row.status === 'sent') && r;
    });
    expect(rows.map((r) => r.certificate_id)).toEqual([null, null]);
    const hook = sink.on('/hook').find((r) => r.json.id === rows.find((x) => x.channel === 'Webhook')!.id)!;
    expect(hook.json.title).toBe(`Certificate ${cert.name} revoked`);
    expect(hook.json.certificate).toMatchObject({ id: cert.id, name: cert.name, expires_at: cert.expires.toISOString(), deleted: true });
    const mail = await waitFor('the email', () => smtp.messages.find((m) => m.subject === `[certctl] Certificate ${cert.name} revoked`));
    expect(mail.text).toContain(`${cert.name} [deleted]`);
  });

  it('dead-letters at once a recipient the SMTP server rejects (550), with the reason', async () => {
    const res = await api.http.post('/api/v1/notifications').set(api.auth())
      .send({ type: 'RenewalFailure', channel: 'Email', recipient: 'reject-me@example.com', message: 'renewal failed' });
    expect(res.status).toBe(201);
    const row = await waitFor('dead row', async () => {
      const [r] = await rowsOf([res.body.id]);
      return r.status === 'dead' && r;
    });
    expect(row.retry_count).toBe(1);
    expect(row.last_error).toMatch(/^permanent failure: SMTP 550/);
    expect(row.next_retry_at).toBeNull();
  });

  it('never writes the SMTP password, webhook secret, routing key or API key into rows or errors', async () => {
    const { rows } = await api.db.query(`SELECT coalesce(string_agg(coalesce(last_error, '') || message || recipient, ' '), '') AS all FROM notification_events`);
    for (const secret of [smtp.password, WEBHOOK_SECRET, ROUTING_KEY, OPSGENIE_KEY, 'secretpath']) expect(rows[0].all).not.toContain(secret);
  });

  it('previews the expiry digest as HTML or JSON and emails it to the digest recipients', async () => {
    const cert = await certificateExpiringIn(10, 'rp-default');
    const html = await api.http.get('/api/v1/digest/preview').set(api.auth()).expect(200);
    expect(html.headers['content-type']).toContain('text/html');
    expect(html.text).toContain(`<a href="${LINK_BASE}/certificates/${cert.id}">${cert.name}</a>`);
    const json = await api.http.get('/api/v1/digest/preview?format=json').set(api.auth()).expect(200);
    expect(json.body.total_expiring).toBeGreaterThanOrEqual(1);
    expect(json.body.certificates).toContainEqual(expect.objectContaining({ id: cert.id, days_left: 10, owner_email: 'owner@example.com' }));
    await api.http.get('/api/v1/digest/preview?format=pdf').set(api.auth()).expect(400);

    const queued = await api.http.post('/api/v1/digest/send').set(api.auth()).send({}).expect(202);
    expect(queued.body).toMatchObject({ status: 'digest_queued', recipients: ['ops@example.com', 'security@example.com'] });
    const mails = await waitFor('two digests', () => {
      const found = smtp.messages.filter((m) => m.subject.startsWith('[certctl] Certificate digest'));
      return found.length >= 2 && found;
    });
    expect(mails.flatMap((m) => m.to).sort()).toEqual(['ops@example.com', 'security@example.com']);
    expect(mails[0]!.raw).toContain('Content-Type: text/html');
    expect(mails[0]!.text).toContain(`- ${cert.name} (${cert.commonName}) expires`);
    const rows = await waitFor('digest rows sent', async () => {
      const { rows: r } = await api.db.query(`SELECT status, type, channel FROM notification_events WHERE id = ANY($1)`, [queued.body.notification_ids]);
      return r.every((x) => x.status === 'sent') && r;
    });
    expect(rows).toEqual([{ status: 'sent', type: 'Digest', channel: 'Email' }, { status: 'sent', type: 'Digest', channel: 'Email' }]);

    await api.http.post('/api/v1/digest/send').set(api.auth()).send({ recipients: ['not-an-address'] }).expect(400);
  });

  it('queues one scheduled digest per period, however many notifier replicas claim it', async () => {
    const scheduler = notifier.get(DigestScheduler);
    const period = Math.floor(Date.now() / 1000) + 1e9;
    const first = await scheduler.sendForPeriod(period);
    const second = await scheduler.sendForPeriod(period);
    expect(first).toHaveLength(2);
    expect(second).toEqual([]);
  });
});
