import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedFingerprint } from '@certctl/deploy';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { CaddyApiPeer, freePort, missingPeer } from '../../libs/deploy/src/testing/peers';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * The Caddy target in admin-API mode, deployed by the orchestrator into a real Caddy 2 (started here from a JSON
 * config, admin API on a free loopback port). Every step checks with a TLS handshake (SNI = the certificate's name)
 * which certificate Caddy serves, and reads Caddy's own log for the config changes it was asked for.
 */
const missing = missingPeer('caddy');
if (missing && process.env.CI !== 'true') console.warn(`[deploy-caddy-api.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('deploying to Caddy through its admin API', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let ca: TestCa;
  let caddy: CaddyApiPeer;
  let certId: string;
  let commonName: string;
  let targetId: string;
  const fingerprints: string[] = [];
  const versionIds: string[] = [];

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Caddy cannot run: ${missing}`);
    p = await startPlatform();
    inv = await createInventory(p);
    ca = await TestCa.create();
    const placeholder = await ca.issue(['placeholder.test']);
    caddy = await CaddyApiPeer.start({ certPem: placeholder.certPem, chainPem: placeholder.chainPem, keyPem: placeholder.keyPem! });
  });
  afterAll(async () => {
    caddy?.stop();
    await p?.close();
  });

  const served = () => servedFingerprint({ host: '127.0.0.1', port: caddy.port, servername: commonName });
  const issue = async () => {
    const renewal = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(renewal.body.job_id, ['Completed']);
    const v = (await p.db.query('SELECT id, fingerprint_sha256, pem_chain FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [certId])).rows[0];
    versionIds.push(v.id);
    fingerprints.push(v.fingerprint_sha256);
    return v.pem_chain as string;
  };
  const deploy = async () => {
    const res = await p.http.post(`/api/v1/certificates/${certId}/deploy`).set(p.auth()).send({}).expect(202);
    return p.waitForJob(res.body.jobs[0].job_id, ['Completed', 'Failed']);
  };
  const setEnabled = (enabled: boolean) => p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled }).expect(200);
  const ourEntries = async () => ((await caddy.config()).apps.tls.certificates.load_pem as Array<{ certificate: string; tags: string[] }>)
    .filter((e) => e.tags.includes(`certctl:${certId}`));

  it('first deploy: Caddy serves the new certificate, loaded into its running config', async () => {
    const body = certificateBody(inv);
    commonName = body.common_name as string;
    const target = await post(p, '/api/v1/targets', {
      name: unique('caddy-api'), type: 'Caddy',
      config: {
        ...caddy.targetConfig(), post_deploy_verify_attempts: 3, post_deploy_verify_backoff: '100ms', post_deploy_verify_max_backoff: '200ms',
        post_deploy_verify: { endpoint: `127.0.0.1:${caddy.port}`, server_name: commonName },
      },
    });
    targetId = target.id as string;
    certId = (await post(p, '/api/v1/certificates', { ...body, target_ids: [targetId] })).id as string;
    const chain = await issue();
    const job = await p.waitForJob((await p.db.query(`SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`, [certId])).rows[0].id, ['Completed', 'Failed']);
    expect(job, job.last_error).toMatchObject({ status: 'Completed', verification_status: 'success', verification_fingerprint: fingerprints[0] });
    expect(job.deployment_result).toMatchObject({ outcome: 'deployed', reloaded: true });
    expect(await served()).toBe(fingerprints[0]);
    const entries = await ourEntries();
    expect(entries).toHaveLength(1);
    expect(new X509Certificate(entries[0]!.certificate).fingerprint256.replace(/:/g, '').toLowerCase()).toBe(fingerprints[0]);
    // Leaf and chain, as issued.
    expect(entries[0]!.certificate.match(/BEGIN CERTIFICATE/g)).toHaveLength(chain.match(/BEGIN CERTIFICATE/g)!.length);
    expect(caddy.configChangeRequests()).toBe(1);
    expect(caddy.configLoads()).toBe(1);
  });

  it('the same deploy again is an idempotent skip: no change is sent to Caddy', async () => {
    const job = await deploy();
    expect(job.deployment_result).toMatchObject({ outcome: 'idempotent_skip', reloaded: false });
    expect(caddy.configChangeRequests()).toBe(1);
    expect(await served()).toBe(fingerprints[0]);
  });

  it('a mismatched key is rejected by Caddy (validate fails); its old config keeps serving the old certificate', async () => {
    await setEnabled(false);
    await issue();
    await p.db.query(
      `UPDATE certificate_versions SET encrypted_private_key = (SELECT encrypted_private_key FROM certificate_versions WHERE id = $1) WHERE id = $2`,
      [versionIds[0], versionIds[1]],
    );
    await setEnabled(true);
    const before = await caddy.config();
    const job = await deploy();
    expect(job).toMatchObject({ status: 'Failed', deployment_result: { failed_stage: 'validate' } });
    // Caddy itself refused it: the change reached the admin API, and Caddy's own error names the key.
    expect(job.last_error).toMatch(/Caddy rejected the new config: loading new config: .*private key does not match/);
    expect(caddy.configChangeRequests()).toBe(2);
    expect(caddy.configLoads()).toBe(1);
    expect(await caddy.config()).toEqual(before);
    expect(await served()).toBe(fingerprints[0]);
  });

  it('a config Caddy accepts but does not serve (TLS check fails) is rolled back to the previous config; the old certificate is served', async () => {
    await setEnabled(false);
    await issue();
    await setEnabled(true);
    // The operator's connection policy pins the certificate now served (by serial number), so Caddy loads the new
    // one but never presents it: the post-deploy handshake fails and certctl must put the previous config back.
    const servedSerial = BigInt(`0x${new X509Certificate((await ourEntries())[0]!.certificate).serialNumber}`).toString();
    const pin = await caddy.adminRequest('PATCH', '/config/apps/http/servers/site/tls_connection_policies', [{ certificate_selection: { serial_number: [servedSerial] } }]);
    expect(pin.status).toBe(200);
    const pinned = await caddy.config();
    const [changes, loads] = [caddy.configChangeRequests(), caddy.configLoads()];

    const job = await deploy();
    expect(job, job.last_error).toMatchObject({
      status: 'Failed', verification_status: 'failed', deployment_result: { failed_stage: 'post_verify', rollback: 'restored', rolled_back: true },
    });
    // The change, then the previous config re-applied: two config switches, ending where it started.
    expect(caddy.configChangeRequests()).toBe(changes + 2);
    expect(caddy.configLoads()).toBe(loads + 2);
    expect(await caddy.config()).toEqual(pinned);
    expect(await served()).toBe(fingerprints[0]);
  });

  it('counts the deployments under target_type="Caddy"', async () => {
    const text = (await p.http.get('/api/v1/metrics/prometheus').set(p.auth()).expect(200)).text;
    expect(text).toContain('certctl_deploy_attempts_total{target_type="Caddy",result="success"} 2');
    expect(text).toContain('certctl_deploy_attempts_total{target_type="Caddy",result="failure"} 2');
    expect(text).toContain('certctl_deploy_validate_failures_total{target_type="Caddy"} 1');
    expect(text).toContain('certctl_deploy_post_verify_failures_total{target_type="Caddy"} 1');
    expect(text).toContain('certctl_deploy_rollback_total{target_type="Caddy",outcome="restored"} 1');
    expect(text).toContain('certctl_deploy_idempotent_skip_total{target_type="Caddy"} 1');
    expect(text).not.toMatch(/certctl_deploy_reload_failures_total\{target_type="Caddy"\} [1-9]/);
  });

  it('POST /targets/{id}/test probes the admin API without changing anything', async () => {
    const changes = caddy.configChangeRequests();
    const ok = (await p.http.post(`/api/v1/targets/${targetId}/test`).set(p.auth()).expect(200)).body;
    expect(ok).toMatchObject({ status: 'success', message: expect.stringMatching(/^Caddy admin API at http:\/\/127\.0\.0\.1:\d+ answers; .*1 deployed by certctl$/) });
    expect(caddy.configChangeRequests()).toBe(changes);
    const down = await post(p, '/api/v1/targets', { name: unique('caddy-down'), type: 'Caddy', config: { admin_api: `http://127.0.0.1:${await freePort()}` } });
    expect((await p.http.post(`/api/v1/targets/${down.id}/test`).set(p.auth()).expect(200)).body)
      .toMatchObject({ status: 'failed', message: expect.stringContaining('Caddy admin API unreachable') });
  });

  it('a bad admin_api or mode is a 400 naming the field', async () => {
    for (const [config, field] of [
      [{ admin_api: 'file:///etc/passwd' }, 'config.admin_api'],
      [{ admin_api: 'http://127.0.0.1:2019/../load' }, 'config.admin_api'],
      [{ admin_api: 'unix/relative.sock' }, 'config.admin_api'],
      [{ mode: 'ftp' }, 'config.mode'],
    ] as const) {
      const res = await p.http.post('/api/v1/targets').set(p.auth()).send({ name: unique('caddy-bad'), type: 'Caddy', config });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.details.map((d: { field: string }) => d.field)).toEqual([field]);
    }
  });
});
