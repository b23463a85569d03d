import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobProducer } from '@certctl/db';
import { ariCertId } from '@certctl/issuers';
import { splitPemChain } from '@certctl/pki';
import { AriCheckService } from '../../apps/orchestrator/src/modules/scheduler/ari-check.service';
import { RenewalSweepService } from '../../apps/orchestrator/src/modules/scheduler/renewal-sweep.service';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface FakeAnswer {
  status: number;
  window?: { start: Date; end: Date };
  retryAfter?: string;
  explanationUrl?: string;
}

/**
 * A fake ARI server: an ACME directory that offers renewalInfo and answers it as each test says. Debian's
 * Pebble (2.4.0, the only ACME server installable here: no Go toolchain, no GitHub) has no renewalInfo, so
 * the CA side of RFC 9773 is this stand-in; ACME issuance itself is tested against the real Pebble elsewhere
 * (acme-pipeline.e2e-spec.ts). Renewal jobs here mostly wait in AwaitingApproval; the one that is let through
 * reaches newOrder, which records the order's payload and refuses it, so nothing is validated or issued.
 */
class FakeAriServer {
  readonly answers = new Map<string, FakeAnswer>();
  readonly hits = new Map<string, number>();
  readonly orders: Array<Record<string, unknown>> = [];
  private nonces = 0;
  private server!: Server;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      const acme = { newNonce: `${this.base}/nonce`, newAccount: `${this.base}/acct`, newOrder: `${this.base}/order` };
      if (req.url === '/dir') return json(200, { ...acme, renewalInfo: `${this.base}/ari` });
      if (req.url === '/dir-without-ari') return json(200, acme);
      const nonce = { 'replay-nonce': `fake-${++this.nonces}` };
      if (req.url === '/nonce') return void res.writeHead(200, nonce).end();
      if (req.url === '/acct' || req.url === '/order') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
          if (req.url === '/acct') return json(201, { status: 'valid' }, { ...nonce, location: `${this.base}/acct/1` });
          const jws = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { payload?: string };
          this.orders.push(jws.payload ? JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as Record<string, unknown> : {});
          json(403, { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'the fake ARI server issues nothing' }, nonce);
        });
        return;
      }
      const id = req.url?.startsWith('/ari/') ? decodeURIComponent(req.url.slice('/ari/'.length)) : undefined;
      if (!id) return json(403, { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'the fake ARI server issues nothing' });
      this.hits.set(id, (this.hits.get(id) ?? 0) + 1);
      const answer = this.answers.get(id) ?? { status: 404 };
      const headers: Record<string, string> = answer.retryAfter ? { 'retry-after': answer.retryAfter } : {};
      if (answer.status !== 200) return json(answer.status, { type: 'urn:ietf:params:acme:error:serverInternal', detail: `fake failure ${answer.status}` }, headers);
      return json(200, {
        suggestedWindow: { start: answer.window!.start.toISOString(), end: answer.window!.end.toISOString() },
        ...(answer.explanationUrl ? { explanationURL: answer.explanationUrl } : {}),
      }, headers);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('renewal sweep driven by ACME Renewal Information (fake ARI server)', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  const fake = new FakeAriServer();
  let ariIssuer: string;
  let gatedProfile: string;

  beforeAll(async () => {
    await fake.start();
    // A tick of its own far away, so the scheduler never polls in the middle of a test (tests call check()).
    p = await startPlatform({ CERTCTL_SCHEDULER_ARI_CHECK_INTERVAL: '1000h' });
    inv = await createInventory(p);
    ariIssuer = (await post(p, '/api/v1/issuers', { name: unique('ari'), type: 'ACME', config: { directory_url: `${fake.base}/dir` } })).id;
    // Renewals wait for approval, so no order ever goes to the fake; the approval gate is honoured by ARI too.
    gatedProfile = (await post(p, '/api/v1/profiles', { name: unique('gated') })).id;
  });
  afterAll(async () => {
    await p?.close();
    await fake.stop();
  });

  /**
   * A certificate issued through the real pipeline (local CA), then handed to `issuerId` (an ACME issuer of the
   * fake) and set to expire in `days`; returns its id and its ARI identifier.
   */
  async function ariCertificate(days: number, issuerId = ariIssuer): Promise<{ id: string; ariId: string }> {
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: gatedProfile }));
    await p.db.query(`UPDATE certificate_profiles SET requires_approval = false WHERE id = $1`, [gatedProfile]);
    const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
    await p.waitForJob(job, ['Completed']);
    await p.db.query(`UPDATE certificate_profiles SET requires_approval = true WHERE id = $1`, [gatedProfile]);
    await p.db.query(`UPDATE managed_certificates SET issuer_id = $2, expires_at = now() + make_interval(days => $3) WHERE id = $1`, [cert.id, issuerId, days]);
    const [{ pem_chain }] = (await p.db.query(`SELECT pem_chain FROM certificate_versions WHERE certificate_id = $1`, [cert.id])).rows;
    return { id: cert.id as string, ariId: ariCertId(splitPemChain(pem_chain)[0]!) };
  }
  const renewalJobs = async (certId: string) =>
    (await p.db.query(`SELECT * FROM jobs WHERE certificate_id = $1 AND type = 'Renewal' ORDER BY created_at`, [certId])).rows;
  const renewalInfo = async (certId: string) => (await p.http.get(`/api/v1/certificates/${certId}/renewal-info`).set(p.auth()).expect(200)).body;
  const ari = () => p.orchestrator.get(AriCheckService);
  const sweep = () => p.orchestrator.get(RenewalSweepService).sweep();
  const expectNear = (iso: string, expectedMs: number, toleranceMs = 60_000) => expect(Math.abs(Date.parse(iso) - expectedMs)).toBeLessThan(toleranceMs);

  it('renews early when the CA\'s window is in the past, not a sibling whose window is ahead (both outside the policy window)', async () => {
    const revoked = await ariCertificate(60);
    const sibling = await ariCertificate(60);
    const now = Date.now();
    fake.answers.set(revoked.ariId, { status: 200, window: { start: new Date(now - 2 * DAY), end: new Date(now - DAY) }, retryAfter: '3600', explanationUrl: 'https://ca.example/incident/1' });
    fake.answers.set(sibling.ariId, { status: 200, window: { start: new Date(now + 20 * DAY), end: new Date(now + 21 * DAY) } });

    // Never polled yet: the route answers with nothing known.
    const unknown = await renewalInfo(revoked.id);
    expect(unknown).toMatchObject({ current: false });
    // Unset fields are omitted, as certctl's JSON does.
    expect(unknown).not.toHaveProperty('window_start');
    expect(unknown).not.toHaveProperty('selected_renewal_at');
    const checked = await ari().check();
    expect(checked.windows).toBeGreaterThanOrEqual(2);

    const info = await renewalInfo(revoked.id);
    expect(info).toMatchObject({ ari_cert_id: revoked.ariId, current: true, explanation_url: 'https://ca.example/incident/1' });
    expect(info).not.toHaveProperty('last_error');
    expect(Date.parse(info.window_start)).toBe(now - 2 * DAY);
    expect(Date.parse(info.selected_renewal_at)).toBeGreaterThanOrEqual(now - 2 * DAY);
    expect(Date.parse(info.selected_renewal_at)).toBeLessThanOrEqual(now - DAY);
    expectNear(info.next_poll_at, now + HOUR); // Retry-After: 3600
    const ahead = await renewalInfo(sibling.id);
    expect(Date.parse(ahead.selected_renewal_at)).toBeGreaterThanOrEqual(now + 20 * DAY);
    expectNear(ahead.next_poll_at, now + 6 * HOUR); // no Retry-After: the 6 h default

    const result = await sweep();
    expect(result.renewalsOpened).toBeGreaterThanOrEqual(1);
    const [job] = await renewalJobs(revoked.id);
    expect(job).toMatchObject({ status: 'AwaitingApproval', requested_by: 'system' });
    const audit = (await p.db.query(`SELECT details FROM audit_events WHERE action = 'renewal_job_created' AND resource_id = $1`, [revoked.id])).rows;
    expect(audit.map((a) => a.details.reason)).toEqual(['ari_window']);
    expect(await renewalJobs(sibling.id)).toHaveLength(0);

    // no second open job on the next sweep
    await sweep();
    expect(await renewalJobs(revoked.id)).toHaveLength(1);
  });

  it('does not ask again before Retry-After, keeps the chosen time for the same window, and follows a window that moves into the past', async () => {
    const cert = await ariCertificate(60);
    const now = Date.now();
    const window = { start: new Date(now + 10 * DAY), end: new Date(now + 12 * DAY) };
    fake.answers.set(cert.ariId, { status: 200, window, retryAfter: '7200' });
    await ari().check();
    expect(fake.hits.get(cert.ariId)).toBe(1);
    const first = await renewalInfo(cert.id);
    expectNear(first.next_poll_at, now + 2 * HOUR);

    await ari().check();
    await ari().check();
    expect(fake.hits.get(cert.ariId)).toBe(1); // Retry-After not reached: not asked again

    await p.db.query(`UPDATE certificate_renewal_info SET next_poll_at = now() - interval '1 second' WHERE certificate_id = $1`, [cert.id]);
    await ari().check();
    expect(fake.hits.get(cert.ariId)).toBe(2);
    expect((await renewalInfo(cert.id)).selected_renewal_at).toBe(first.selected_renewal_at); // chosen once per window
    await sweep();
    expect(await renewalJobs(cert.id)).toHaveLength(0);

    // The CA moves the window into the past (e.g. it plans to revoke): a new time is chosen, and the sweep renews.
    fake.answers.set(cert.ariId, { status: 200, window: { start: new Date(now - 3 * HOUR), end: new Date(now - HOUR) } });
    await p.db.query(`UPDATE certificate_renewal_info SET next_poll_at = now() - interval '1 second' WHERE certificate_id = $1`, [cert.id]);
    await ari().check();
    const moved = await renewalInfo(cert.id);
    expect(Date.parse(moved.selected_renewal_at)).toBeLessThanOrEqual(now - HOUR);
    await sweep();
    expect(await renewalJobs(cert.id)).toHaveLength(1);
  });

  it('records a failing renewalInfo (500, 503 with Retry-After) and still renews by the policy window', async () => {
    const inside = await ariCertificate(10); // inside the default policy's 30-day window
    const outside = await ariCertificate(60);
    fake.answers.set(inside.ariId, { status: 500 });
    fake.answers.set(outside.ariId, { status: 503, retryAfter: '10800' });
    const now = Date.now();
    const checked = await ari().check();
    expect(checked.failed).toBeGreaterThanOrEqual(2);

    const failedInside = await renewalInfo(inside.id);
    expect(failedInside).not.toHaveProperty('window_start');
    expect(failedInside).not.toHaveProperty('selected_renewal_at');
    expect(failedInside.last_error).toMatch(/fake failure 500/);
    expectNear(failedInside.next_poll_at, now + HOUR); // the error back-off, no hammering
    const failedOutside = await renewalInfo(outside.id);
    expect(failedOutside.last_error).toMatch(/fake failure 503/);
    expectNear(failedOutside.next_poll_at, now + 3 * HOUR); // the CA's Retry-After

    await sweep();
    const [job] = await renewalJobs(inside.id);
    expect(job).toMatchObject({ status: 'AwaitingApproval' });
    const audit = (await p.db.query(`SELECT details FROM audit_events WHERE action = 'renewal_job_created' AND resource_id = $1`, [inside.id])).rows;
    expect(audit.map((a) => a.details.reason)).toEqual(['policy_window']);
    expect(await renewalJobs(outside.id)).toHaveLength(0);

    // A failed poll keeps the last good window of the same version.
    fake.answers.set(outside.ariId, { status: 200, window: { start: new Date(now + 5 * DAY), end: new Date(now + 6 * DAY) } });
    await p.db.query(`UPDATE certificate_renewal_info SET next_poll_at = now() - interval '1 second' WHERE certificate_id = $1`, [outside.id]);
    await ari().check();
    const good = await renewalInfo(outside.id);
    fake.answers.set(outside.ariId, { status: 500 });
    await p.db.query(`UPDATE certificate_renewal_info SET next_poll_at = now() - interval '1 second' WHERE certificate_id = $1`, [outside.id]);
    await ari().check();
    const afterFailure = await renewalInfo(outside.id);
    expect(afterFailure).toMatchObject({ window_start: good.window_start, selected_renewal_at: good.selected_renewal_at });
    expect(afterFailure.last_error).toMatch(/fake failure 500/);
  });

  it('records an issuer without renewalInfo, and ignores a window given for a version that has since been replaced', async () => {
    const withoutAri = (await post(p, '/api/v1/issuers', { name: unique('no-ari'), type: 'ACME', config: { directory_url: `${fake.base}/dir-without-ari` } })).id;
    const plain = await ariCertificate(60, withoutAri);
    await ari().check();
    const info = await renewalInfo(plain.id);
    expect(info.last_error).toMatch(/offers no renewal information/);
    expect(fake.hits.get(plain.ariId)).toBeUndefined();
    await sweep();
    expect(await renewalJobs(plain.id)).toHaveLength(0);

    // A past window, then the certificate gets a newer version (renewed): the old window no longer renews it.
    const renewed = await ariCertificate(60);
    fake.answers.set(renewed.ariId, { status: 200, window: { start: new Date(Date.now() - DAY), end: new Date(Date.now() - HOUR) }, retryAfter: '86400' });
    await ari().check();
    await p.db.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, created_at)
       SELECT id || '-next', certificate_id, serial_number, not_before, not_after, fingerprint_sha256 || '-next', pem_chain, now() + interval '1 second'
         FROM certificate_versions WHERE certificate_id = $1`, [renewed.id]);
    expect(await renewalInfo(renewed.id)).toMatchObject({ current: false });
    await sweep();
    expect(await renewalJobs(renewed.id)).toHaveLength(0);
    // The new version is polled at once, Retry-After of the old one notwithstanding (a new certificate, a new question).
    const hits = fake.hits.get(renewed.ariId)!;
    await ari().check();
    expect(fake.hits.get(renewed.ariId)).toBe(hits + 1);
    expect(await renewalInfo(renewed.id)).toMatchObject({ current: true });
  });

  it('runs as a job scheduler on the schedule queue, every CERTCTL_SCHEDULER_ARI_CHECK_INTERVAL', async () => {
    const scheduler = await p.orchestrator.get(JobProducer).queue('schedule').getJobScheduler('ari.check');
    expect(scheduler).toMatchObject({ name: 'ari.check', every: 1000 * HOUR });
  });

  it('a Renewal order through the pipeline names the certificate it replaces (the newest version\'s leaf)', async () => {
    const cert = await ariCertificate(60);
    await p.db.query(`UPDATE certificate_profiles SET requires_approval = false WHERE id = $1`, [gatedProfile]);
    try {
      fake.orders.length = 0;
      const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
      const failed = await p.waitForJob(job, ['Failed']);
      expect(failed).toMatchObject({ type: 'Renewal', last_error: expect.stringMatching(/issues nothing/) });
      expect(fake.orders.length).toBeGreaterThan(0);
      for (const order of fake.orders) expect(order).toMatchObject({ replaces: cert.ariId });
    } finally {
      await p.db.query(`UPDATE certificate_profiles SET requires_approval = true WHERE id = $1`, [gatedProfile]);
    }
  });

  it('answers 404 for the renewal info of an unknown certificate', async () => {
    const res = await p.http.get('/api/v1/certificates/mc-nope/renewal-info').set(p.auth()).expect(404);
    expect(res.body.message).toMatch(/mc-nope/);
  });
});
