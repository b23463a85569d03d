import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedFingerprint } from '@certctl/deploy';
import { missingPeer, NginxPeer, servedAfterReload as servedSettled } from '../../libs/deploy/src/testing/peers';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const missing = missingPeer('nginx');
if (missing && process.env.CI !== 'true') console.warn(`[deploy-nginx.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/** Real nginx in a scratch prefix, deployed to by the orchestrator's deploy worker, checked with real TLS handshakes. */
suite('deploying to nginx', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let nginx: NginxPeer;
  let targetId: string;
  let certId: string;
  const versions: Array<{ id: string; fingerprint_sha256: string }> = [];

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and nginx cannot run: ${missing}`);
    p = await startPlatform();
    inv = await createInventory(p);
    const ca = await TestCa.create();
    const placeholder = await ca.issue();
    nginx = await NginxPeer.start({ certPem: placeholder.certPem, keyPem: placeholder.keyPem! });
  });
  afterAll(async () => {
    nginx?.stop();
    await p?.close();
  });

  const served = () => servedFingerprint({ host: '127.0.0.1', port: nginx.port });
  const servedAfterReload = (expected: string) => servedSettled(served, expected);
  const latestDeployment = async () => (await p.db.query(
    `SELECT * FROM jobs WHERE certificate_id = $1 AND type = 'Deployment' ORDER BY created_at DESC, id DESC LIMIT 1`, [certId])).rows[0];
  const newestVersion = async () => (await p.db.query(
    'SELECT id, fingerprint_sha256 FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [certId])).rows[0];
  const deploy = async () => {
    const res = await p.http.post(`/api/v1/certificates/${certId}/deploy`).set(p.auth()).send({});
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return p.waitForJob(res.body.jobs[0].job_id, ['Completed', 'Failed']);
  };

  it('first deploy after issuance: nginx serves the new certificate, the job records the verification', async () => {
    const target = await post(p, '/api/v1/targets', {
      name: unique('nginx'), type: 'NGINX',
      config: {
        cert_path: nginx.certPath, key_path: nginx.keyPath, validate_command: nginx.validateCommand, reload_command: nginx.reloadCommand,
        post_deploy_verify: { enabled: true, endpoint: `127.0.0.1:${nginx.port}` }, post_deploy_verify_attempts: 8, post_deploy_verify_backoff: '100ms',
      },
    });
    targetId = target.id as string;
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [targetId] }));
    certId = cert.id as string;
    const renewal = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(renewal.body.job_id, ['Completed']);
    versions.push(await newestVersion());

    const job = await p.waitForJob((await latestDeployment()).id, ['Completed', 'Failed']);
    expect(job, job.last_error).toMatchObject({ status: 'Completed', agent_id: null, verification_status: 'success', verification_fingerprint: versions[0]!.fingerprint_sha256 });
    expect(job.deployment_result).toMatchObject({ outcome: 'deployed', reloaded: true, validate_ok: true });
    expect(await servedAfterReload(versions[0]!.fingerprint_sha256)).toBe(versions[0]!.fingerprint_sha256);
    expect(statSync(nginx.keyPath).mode & 0o077 & ~0o040).toBe(0);
    expect(readFileSync(nginx.keyPath, 'utf8')).toContain('PRIVATE KEY');
    expect(nginx.scratch.reloads()).toBe(1);

    const row = (await p.db.query('SELECT last_deployment_at FROM managed_certificates WHERE id = $1', [certId])).rows[0];
    expect(row.last_deployment_at).not.toBeNull();
    const notes = await p.db.query(`SELECT type FROM notification_events WHERE certificate_id = $1 AND type LIKE 'Deployment%'`, [certId]);
    expect(notes.rows.map((r) => r.type)).toContain('DeploymentSuccess');
  });

  it('the same deploy again is an idempotent skip: no validate, no reload', async () => {
    const job = await deploy();
    expect(job, job.last_error).toMatchObject({ status: 'Completed', verification_status: 'skipped' });
    expect(job.deployment_result).toMatchObject({ outcome: 'idempotent_skip', skipped_as_idempotent: true, reloaded: false });
    expect(nginx.scratch.reloads()).toBe(1);
  });

  let realKey: Buffer;
  it('a certificate with a mismatched key fails validation and the old certificate is still served', async () => {
    // Issue a second version without deploying it (target disabled), then give it the first version's key.
    await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled: false }).expect(200);
    const renewal = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(renewal.body.job_id, ['Completed']);
    versions.push(await newestVersion());
    realKey = (await p.db.query('SELECT encrypted_private_key FROM certificate_versions WHERE id = $1', [versions[1]!.id])).rows[0].encrypted_private_key;
    await p.db.query(
      'UPDATE certificate_versions SET encrypted_private_key = (SELECT encrypted_private_key FROM certificate_versions WHERE id = $1) WHERE id = $2',
      [versions[0]!.id, versions[1]!.id],
    );
    await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled: true }).expect(200);

    const job = await deploy();
    expect(job.status).toBe('Failed');
    expect(job.last_error).toMatch(/validate failed: the private key does not match the certificate/);
    expect(job.last_error).not.toContain('PRIVATE KEY');
    expect(job.deployment_result).toMatchObject({ failed_stage: 'validate', rolled_back: false });
    expect(await servedAfterReload(versions[0]!.fingerprint_sha256)).toBe(versions[0]!.fingerprint_sha256);
    expect(nginx.scratch.reloads()).toBe(1);
    const notes = await p.db.query(`SELECT message FROM notification_events WHERE certificate_id = $1 AND type = 'DeploymentFailure'`, [certId]);
    expect(notes.rows.length).toBeGreaterThan(0);
  });

  it('a reload that fails is rolled back: files restored, reloaded again, the old certificate served', async () => {
    await p.db.query('UPDATE certificate_versions SET encrypted_private_key = $1 WHERE id = $2', [realKey, versions[1]!.id]);
    nginx.scratch.failNextReload();
    const job = await deploy();
    expect(job.status).toBe('Failed');
    // The job row says how the reload ended, never what it printed.
    expect(job.last_error).toMatch(/^reload failed, rolled back: \/.*\/reload\.sh: exited with status 7$/);
    expect(job.deployment_result).toMatchObject({ failed_stage: 'reload', rolled_back: true, rollback: 'restored' });
    expect(nginx.scratch.reloads()).toBe(3); // the failed one and the one after restoring
    expect(await servedAfterReload(versions[0]!.fingerprint_sha256)).toBe(versions[0]!.fingerprint_sha256);
  });

  it('deploying again after the fix serves the new version', async () => {
    const job = await deploy();
    expect(job, job.last_error).toMatchObject({ status: 'Completed', verification_status: 'success', verification_fingerprint: versions[1]!.fingerprint_sha256 });
    expect(await servedAfterReload(versions[1]!.fingerprint_sha256)).toBe(versions[1]!.fingerprint_sha256);
  });

  it('a post-deploy verification that sees another certificate restores the files and reloads', async () => {
    // The verification endpoint is a TLS server that keeps serving some other certificate.
    const stale = await (await TestCa.create()).issue();
    const imposter = createServer({ cert: stale.certPem, key: stale.keyPem! }, (socket) => socket.end());
    await new Promise<void>((r) => imposter.listen(0, '127.0.0.1', r));
    try {
      const port = (imposter.address() as { port: number }).port;
      const current = (await p.http.get(`/api/v1/targets/${targetId}`).set(p.auth()).expect(200)).body;
      await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth())
        .send({ enabled: false, config: { ...current.config, post_deploy_verify: { endpoint: `127.0.0.1:${port}` }, post_deploy_verify_attempts: 2 } }).expect(200);
      const renewal = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({}).expect(202);
      await p.waitForJob(renewal.body.job_id, ['Completed']);
      await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled: true }).expect(200);
      const reloadsBefore = nginx.scratch.reloads();
      const job = await deploy();
      expect(job).toMatchObject({ status: 'Failed', verification_status: 'failed', deployment_result: { failed_stage: 'post_verify', rollback: 'restored' } });
      expect(job.verification_error).toMatch(/post-deploy verification failed, rolled back/);
      expect(nginx.scratch.reloads()).toBe(reloadsBefore + 2);
      expect(await servedAfterReload(versions[1]!.fingerprint_sha256)).toBe(versions[1]!.fingerprint_sha256);
    } finally {
      imposter.close();
    }
  });

  it('the deploy counters are exposed per target type', async () => {
    const text = (await p.http.get('/api/v1/metrics/prometheus').set(p.auth()).expect(200)).text;
    expect(text).toContain('certctl_deploy_attempts_total{target_type="NGINX",result="success"} 3');
    expect(text).toContain('certctl_deploy_attempts_total{target_type="NGINX",result="failure"} 3');
    expect(text).toContain('certctl_deploy_validate_failures_total{target_type="NGINX"} 1');
    expect(text).toContain('certctl_deploy_reload_failures_total{target_type="NGINX"} 1');
    expect(text).toContain('certctl_deploy_post_verify_failures_total{target_type="NGINX"} 1');
    expect(text).toContain('certctl_deploy_rollback_total{target_type="NGINX",outcome="restored"} 2');
    expect(text).toContain('certctl_deploy_idempotent_skip_total{target_type="NGINX"} 1');
  });
});
