import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUTBOUND_POLICY, OutboundUrlError, outboundLookup, Resolver } from '@certctl/config';
import { AlertMessage, buildAlertMessage, NotificationWithCertificate } from './alert-message';
import { DeliveryError, isRetryableStatus } from './delivery-errors';
import { smtpFailure } from './email.channel';
import { HttpPoster } from './http-client';
import { opsGenieAlert } from './opsgenie.channel';
import { pagerDutyDedupKey, pagerDutyEvent } from './pagerduty.channel';
import { slackEscape, slackPayload } from './slack.channel';
import { signWebhookBody, webhookBody } from './webhook.channel';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function row(overrides: Partial<NotificationWithCertificate> = {}): NotificationWithCertificate {
  return {
    id: 'notif-1', type: 'ExpirationWarning', certificate_id: 'mc-1', recipient: '', message: 'renew soon',
    created_at: new Date(NOW), details: { severity: 'critical', certificate_id: 'mc-1', certificate_name: 'old-name', common_name: 'old.example.com', expires_at: '2026-01-03T00:00:00.000Z' },
    live_name: 'api.example.com', live_common_name: 'api.example.com', live_expires_at: new Date('2026-01-08T12:00:00Z'),
    ...overrides,
  };
}

describe('buildAlertMessage', () => {
  it('says what, which certificate, when it expires and where to look, from the live certificate', () => {
    const m = buildAlertMessage(row(), 'https://certctl.example.com', NOW);
    expect(m.title).toBe('Certificate api.example.com expires in 7 days');
    expect(m.certificate).toEqual({
      id: 'mc-1', name: 'api.example.com', commonName: 'api.example.com', expiresAt: '2026-01-08T12:00:00.000Z', daysLeft: 7,
      url: 'https://certctl.example.com/certificates/mc-1', deleted: false,
    });
  });

  it('falls back to what the row kept when the certificate is gone', () => {
    const m = buildAlertMessage(row({ certificate_id: null, live_name: null, live_common_name: null, live_expires_at: null }), 'https://c', NOW);
    expect(m.certificate).toMatchObject({ id: 'mc-1', name: 'old-name', commonName: 'old.example.com', daysLeft: 2, deleted: true });
    expect(m.title).toBe('Certificate old-name expires in 2 days');
  });

  it('words expired certificates and other events', () => {
    expect(buildAlertMessage(row({ live_expires_at: new Date(NOW - 3 * 86_400_000) }), 'https://c', NOW).title).toBe('Certificate api.example.com expired 3 days ago');
    expect(buildAlertMessage(row({ type: 'RenewalFailure' }), 'https://c', NOW).title).toBe('Renewal failed for certificate api.example.com');
    expect(buildAlertMessage(row({ certificate_id: null, details: {}, live_name: null }), 'https://c', NOW).certificate).toBeNull();
    expect(buildAlertMessage(row({ type: 'HealthCheckCertMismatch' }), 'https://c', NOW).title).toBe('Endpoint expected to serve api.example.com serves another certificate');
    expect(buildAlertMessage(row({ type: 'HealthCheckDown' }), 'https://c', NOW).title).toBe('Endpoint serving api.example.com is down');
  });
});

describe('payloads', () => {
  const message: AlertMessage = buildAlertMessage(row({ live_name: 'a<b>&c' }), 'https://c', NOW);

  it('escapes Slack mrkdwn and keeps the header within 150 characters', () => {
    expect(slackEscape('<@here> & co')).toBe('&lt;@here&gt; &amp; co');
    const long = { ...message, title: 'x'.repeat(400) };
    const payload = slackPayload(long, {}) as { blocks: Array<{ text?: { text: string } }>; channel?: string };
    expect(payload.blocks[0]!.text!.text).toHaveLength(150);
    expect(payload.channel).toBeUndefined();
  });

  it('gives PagerDuty one dedup key per certificate and event type, and a valid severity', () => {
    expect(pagerDutyDedupKey(message)).toBe('certctl/mc-1/ExpirationWarning');
    expect((pagerDutyEvent({ ...message, severity: 'urgent-tier' }, 'rk', 'warning').payload as { severity: string }).severity).toBe('warning');
  });

  it('caps the OpsGenie message at 130 characters and pages critical alerts as P1', () => {
    const alert = opsGenieAlert({ ...message, title: 'y'.repeat(300) }, 'P3');
    expect((alert.message as string).length).toBe(130);
    expect(alert.priority).toBe('P1');
    expect(opsGenieAlert({ ...message, severity: 'warning' }, 'P3').priority).toBe('P3');
  });

  it('signs the exact webhook body with HMAC-SHA256 (hex)', () => {
    const body = JSON.stringify(webhookBody(message, 1_767_225_600));
    // openssl dgst -sha256 -hmac secret <<< body, computed independently
    expect(signWebhookBody('secret', 'hello')).toBe('88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b');
    expect(signWebhookBody('secret', body)).not.toBe(signWebhookBody('other', body));
    expect(JSON.parse(body)).toMatchObject({ id: 'notif-1', idempotency_key: 'notif-1', timestamp: 1_767_225_600 });
  });
});

describe('failure classification', () => {
  it('retries 408, 429 and 5xx only', () => {
    expect([400, 401, 403, 404, 408, 410, 422, 429, 500, 502, 503].filter(isRetryableStatus)).toEqual([408, 429, 500, 502, 503]);
  });

  it('treats SMTP 5xx and bad envelopes as permanent, 4xx and connection trouble as transient', () => {
    expect(smtpFailure({ responseCode: 550, message: 'mailbox unavailable' })).toMatchObject({ permanent: true });
    expect(smtpFailure({ responseCode: 535, code: 'EAUTH', message: 'bad credentials' })).toMatchObject({ permanent: true });
    expect(smtpFailure({ responseCode: 451, message: 'try later' })).toMatchObject({ permanent: false });
    expect(smtpFailure({ code: 'ECONNECTION', message: 'refused' })).toMatchObject({ permanent: false });
    expect(smtpFailure({ code: 'EENVELOPE', message: 'no recipients' })).toBeInstanceOf(DeliveryError);
  });
});

const noLoopback = DEFAULT_OUTBOUND_POLICY;
const withLoopback = { ...DEFAULT_OUTBOUND_POLICY, allowLoopback: true };

describe('outboundLookup', () => {
  const resolveWith = (policy: typeof noLoopback) =>
    new Promise<Error | null>((done) => outboundLookup(policy)('localhost', { all: true }, (err) => done(err)));

  it('refuses localhost when loopback is not allowed', async () => {
    const err = await resolveWith(noLoopback);
    expect(err).toBeInstanceOf(OutboundUrlError);
    expect(err!.message).toMatch(/localhost is loopback/);
  });

  it('lets it through when loopback is allowed (tests)', async () => {
    expect(await resolveWith(withLoopback)).toBeNull();
  });
});

describe('HttpPoster', () => {
  it('refuses reserved literal addresses as permanent failures, without calling out', async () => {
    const poster = new HttpPoster({ timeoutMs: 1_000, policy: noLoopback });
    try {
      await expect(poster.postJson('http://169.254.169.254/latest/meta-data/', {})).rejects.toMatchObject({ permanent: true, message: expect.stringMatching(/cloud metadata/) });
      await expect(poster.postJson('http://127.0.0.1:9/', {})).rejects.toMatchObject({ permanent: true });
      await expect(poster.postJson('http://[::127.0.0.1]:9/', {})).rejects.toMatchObject({ permanent: true, message: expect.stringMatching(/IPv4-compatible form of 127\.0\.0\.1/) });
    } finally {
      poster.close();
    }
  });

  describe('at connect time, against the resolved address (DNS rebinding)', () => {
    let server: Server;
    let port: number;
    let requests = 0;
    // A name that passes the create-time check and then resolves to a refused address: a resolver injected in
    // place of DNS maps it, so no /etc/hosts entry is needed.
    const rebinding: Resolver = (hostname, _options, callback) =>
      hostname === 'hooks.rebind.test' ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }), []);

    beforeAll(async () => {
      server = createServer((req, res) => {
        requests++;
        res.end('ok');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('refuses a name that resolves to loopback, and the listener never sees a request', async () => {
      const poster = new HttpPoster({ timeoutMs: 1_000, policy: noLoopback, resolver: rebinding });
      try {
        await expect(poster.postJson(`http://hooks.rebind.test:${port}/hook`, {})).rejects.toMatchObject({
          permanent: true, message: expect.stringMatching(/hooks\.rebind\.test resolves to a refused address: 127\.0\.0\.1 is loopback/),
        });
        expect(requests).toBe(0);
      } finally {
        poster.close();
      }
    });

    it('connects to the checked address when the policy allows it', async () => {
      const poster = new HttpPoster({ timeoutMs: 1_000, policy: withLoopback, resolver: rebinding });
      try {
        await expect(poster.postJson(`http://hooks.rebind.test:${port}/hook`, {})).resolves.toMatchObject({ status: 200 });
        expect(requests).toBe(1);
      } finally {
        poster.close();
      }
    });
  });
});
