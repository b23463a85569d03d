import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueJobId } from '@certctl/contracts';
import { enqueueNotifications, JobProducer, recordNotifications } from '@certctl/db';
import { createWorkerApp } from '@certctl/observability';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post } from '../support/fixtures';
import { HttpSink, startHttpSink, waitFor } from '../support/notifier-peers';

/**
 * A channel with no configuration in the notifier (Email without an SMTP host, the default channel) is not a
 * delivery failure: its rows are recorded as skipped with the reason, never retried, never dead-lettered, and not
 * counted as failures; a configured channel of the same alert is delivered.
 */
describe('alerts for a channel that is not configured', () => {
  let sink: HttpSink;
  let api: ApiHarness;
  let notifier: INestApplication;
  let inventory: Inventory;

  beforeAll(async () => {
    sink = await startHttpSink();
    // No CERTCTL_SMTP_HOST; the default channels are certctl's (Email).
    api = await startApi({ CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true', CERTCTL_WEBHOOK_URL: `${sink.url}/hook`, CERTCTL_NOTIFICATION_DEFAULT_CHANNELS: 'Email' });
    notifier = await createWorkerApp('notifier', [NotifierModule]);
    await notifier.init();
    inventory = await createInventory(api);
  });
  afterAll(async () => {
    await notifier?.close();
    await api?.close();
    await sink?.close();
  });

  const metric = async (name: string) => {
    const text = (await api.http.get('/api/v1/metrics/prometheus').set(api.auth()).expect(200)).text;
    return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };

  it('records Email as skipped with the reason, delivers the Webhook of the same alert, and counts nothing dead or failed', async () => {
    const policy = await post(api, '/api/v1/renewal-policies', { name: 'email-and-webhook', alert_channels: { info: ['Email', 'Webhook'] } });
    const withPolicy = await post(api, '/api/v1/certificates', certificateBody(inventory, { renewal_policy_id: policy.id }));
    const withoutPolicy = await post(api, '/api/v1/certificates', certificateBody(inventory));
    const [deadBefore, failuresBefore] = [await metric('certctl_notification_dead_total'), await metric('certctl_notification_failures_total')];
    const dataSource = api.app.get(DataSource);
    const ids: string[] = [];
    for (const cert of [withPolicy, withoutPolicy]) {
      ids.push(...await dataSource.transaction((tx) => recordNotifications(tx, { type: 'RenewalSuccess', certificate_id: cert.id, message: `${cert.name} renewed` })));
    }
    await enqueueNotifications(api.app.get(JobProducer), ids);

    const rows = await waitFor('every row settled', async () => {
      const { rows: r } = await api.db.query(`SELECT id, certificate_id, channel, status, last_error, retry_count FROM notification_events WHERE id = ANY($1) ORDER BY certificate_id, channel`, [ids]);
      return r.every((row) => row.status !== 'pending' && row.status !== 'failed') && r;
    });
    const email = rows.filter((r) => r.channel === 'Email');
    expect(email).toHaveLength(2); // the policy's info tier, and the default channel of the certificate without a policy
    for (const row of email) {
      expect(row).toMatchObject({ status: 'skipped', last_error: 'not sent: Email is not configured (CERTCTL_SMTP_HOST)', retry_count: 0 });
      expect(await api.app.get(JobProducer).queue('notify-dead-letter').getJob(queueJobId('notification.dead', row.id))).toBeUndefined();
    }
    expect(rows.filter((r) => r.channel === 'Webhook').map((r) => r.status)).toEqual(['sent']);
    expect(sink.on('/hook')).toHaveLength(1);
    expect(await metric('certctl_notification_dead_total')).toBe(deadBefore);
    expect(await metric('certctl_notification_failures_total')).toBe(failuresBefore);
    const summary = (await api.http.get('/api/v1/stats/summary').set(api.auth()).expect(200)).body;
    expect(summary.notifications_dead).toBe(0);

    // Listed under their own status, and requeueable once the channel is configured.
    const listed = (await api.http.get('/api/v1/notifications?status=skipped').set(api.auth()).expect(200)).body;
    expect(listed.data.map((n: { id: string }) => n.id).sort()).toEqual(email.map((r) => r.id).sort());
    await api.http.post(`/api/v1/notifications/${email[0]!.id}/requeue`).set(api.auth()).expect(200);
  });
});
