import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp } from '@certctl/observability';
import { missingPeer, NginxPeer } from '../../libs/deploy/src/testing/peers';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { SCANNER_FEATURES } from '../../apps/scanner/src/scanner.features';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const missing = missingPeer('nginx');
if (missing && process.env.CI !== 'true') console.warn(`[health-checks-nginx.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/**
 * The whole path on a real nginx: issuance, the orchestrator's deployment and post-deploy verification create
 * the health check; a renewal deployed to nginx moves its expected fingerprint, and the check, probed every
 * second by a real scanner throughout the rollout, never leaves healthy.
 */
suite('health checks follow renewals deployed to nginx', () => {
  let p: PlatformHarness;
  let scanner: INestApplication;
  let nginx: NginxPeer;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and nginx cannot run: ${missing}`);
    p = await startPlatform({
      CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_HEALTH_CHECK_MIN_INTERVAL: '1', CERTCTL_HEALTH_CHECK_INTERVAL: '200ms',
      CERTCTL_HEALTH_CHECK_DEFAULT_INTERVAL: '1',
    });
    scanner = await createWorkerApp('scanner', SCANNER_FEATURES);
    await scanner.init();
    const placeholder = await (await TestCa.create()).issue();
    nginx = await NginxPeer.start({ certPem: placeholder.certPem, keyPem: placeholder.keyPem! });
  });
  afterAll(async () => {
    nginx?.stop();
    await scanner?.close();
    await p?.close();
  });

  const newestFingerprint = async (certId: string) => (await p.db.query(
    'SELECT fingerprint_sha256 FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [certId])).rows[0].fingerprint_sha256 as string;
  const checkOf = async (certId: string) => (await p.db.query('SELECT * FROM endpoint_health_checks WHERE certificate_id = $1', [certId])).rows;
  const waitFor = async <T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let value = await read();
    while (!done(value)) {
      if (Date.now() > deadline) expect.fail(`${what} within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
      await new Promise((r) => setTimeout(r, 100));
      value = await read();
    }
    return value;
  };
  const renewAndDeploy = async (certId: string) => {
    const renewal = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(renewal.body.job_id, ['Completed']);
    const deployment = (await p.db.query(
      `SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment' ORDER BY created_at DESC, id DESC LIMIT 1`, [certId])).rows[0];
    const job = await p.waitForJob(deployment.id, ['Completed', 'Failed']);
    expect(job, job.last_error).toMatchObject({ status: 'Completed', verification_status: 'success' });
    return job;
  };

  it('creates the check at the first verified deployment and stays healthy while a renewal is rolled out', async () => {
    const inv = await createInventory(p);
    const target = await post(p, '/api/v1/targets', {
      name: unique('nginx'), type: 'NGINX',
      config: {
        cert_path: nginx.certPath, key_path: nginx.keyPath, validate_command: nginx.validateCommand, reload_command: nginx.reloadCommand,
        post_deploy_verify: { enabled: true, endpoint: `127.0.0.1:${nginx.port}` }, post_deploy_verify_attempts: 8, post_deploy_verify_backoff: '100ms',
      },
    });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    const certId = cert.id as string;

    await renewAndDeploy(certId);
    const first = await newestFingerprint(certId);
    const [created] = await checkOf(certId);
    expect(created).toMatchObject({ endpoint: `127.0.0.1:${nginx.port}`, target_id: target.id, expected_fingerprint: first, auto_created: true });
    await waitFor(async () => (await checkOf(certId))[0], (c) => c.status === 'healthy' && c.observed_fingerprint === first, 'healthy on the first version');

    await renewAndDeploy(certId);
    const second = await newestFingerprint(certId);
    expect(second).not.toBe(first);
    expect((await checkOf(certId))[0].expected_fingerprint).toBe(second);
    const settled = await waitFor(async () => (await checkOf(certId))[0], (c) => c.observed_fingerprint === second, 'observed the renewed certificate');
    expect(settled).toMatchObject({ status: 'healthy', expected_fingerprint: second });
    // Probed all along: never anything but healthy, and it did see both versions.
    const history = (await p.db.query('SELECT status, fingerprint FROM endpoint_health_history WHERE health_check_id = $1', [created.id])).rows;
    expect(new Set(history.map((h) => h.status))).toEqual(new Set(['healthy']));
    expect(new Set(history.map((h) => h.fingerprint))).toEqual(new Set([first, second]));
    expect((await checkOf(certId)).length).toBe(1);
    const alerts = (await p.db.query(`SELECT type FROM notification_events WHERE certificate_id = $1 AND type LIKE 'HealthCheck%'`, [certId])).rows;
    expect(alerts).toEqual([]);
  });
});
