import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedFingerprint } from '@certctl/deploy';
import { freePort } from '@certctl/testing';
import { missingPeer, NginxPeer, servedAfterReload } from '../../libs/deploy/src/testing/peers';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { AgentProcess } from '../support/agent-process';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { waitFor } from '../support/notifier-peers';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const missing = missingPeer('nginx');
if (missing && process.env.CI !== 'true') console.warn(`[reissue-drill-agent.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/**
 * The re-issue drill through a real agent (agent-made key, CSR, deploy to nginx and the agent's own post-deploy TLS
 * check) next to an agentless File target that has no TLS check: the agent's certificate has its old serial revoked
 * once the agent proved nginx serves the new one; the File target's keeps its old serial (unverified), named.
 */
suite('mass re-issue drill through an agent (nginx) and an unverifiable target', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let nginx: NginxPeer;
  let agent: AgentProcess | undefined;
  let agentCert: string;
  let fileCert: string;
  const home = mkdtempSync(join(tmpdir(), 'reissue-agent-e2e-'));

  const served = () => servedFingerprint({ host: '127.0.0.1', port: nginx.port });
  const newest = async (certId: string) => (await p.db.query(
    'SELECT serial_number, fingerprint_sha256 FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [certId])).rows[0];
  const revokedSerials = async (certId: string) =>
    (await p.db.query('SELECT serial_number FROM certificate_revocations WHERE certificate_id = $1', [certId])).rows.map((r) => r.serial_number);

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and nginx cannot run: ${missing}`);
    p = await startPlatform({ CERTCTL_KEYGEN_MODE: 'agent', CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL: '250ms' });
    const port = await freePort();
    await p.app.listen(port, '127.0.0.1');
    inv = await createInventory(p);
    const placeholder = await (await TestCa.create()).issue();
    nginx = await NginxPeer.start({ certPem: placeholder.certPem, keyPem: placeholder.keyPem! });
    const registered = await post(p, '/api/v1/agents', { name: unique('edge-agent') });
    agent = await AgentProcess.start({
      CERTCTL_SERVER_URL: `http://127.0.0.1:${port}`, CERTCTL_AGENT_ID: registered.id, CERTCTL_API_KEY: registered.api_key,
      CERTCTL_KEY_DIR: join(home, 'keys'), CERTCTL_AGENT_STATE_DIR: join(home, 'state'), CERTCTL_DISCOVERY_DIRS: '',
      CERTCTL_AGENT_POLL_INTERVAL: '200ms', CERTCTL_AGENT_HEARTBEAT_INTERVAL: '1s', CERTCTL_AGENT_BACKOFF_BASE: '100ms', CERTCTL_AGENT_MAX_BACKOFF: '1s',
    });
    const byAgent = await post(p, '/api/v1/targets', {
      name: unique('nginx'), type: 'NGINX', agent_id: registered.id,
      config: {
        cert_path: nginx.certPath, key_path: nginx.keyPath, validate_command: nginx.validateCommand, reload_command: nginx.reloadCommand,
        post_deploy_verify: { enabled: true, endpoint: `127.0.0.1:${nginx.port}` }, post_deploy_verify_attempts: 8, post_deploy_verify_backoff: '100ms',
      },
    });
    const files = await post(p, '/api/v1/targets', { name: unique('files'), type: 'File', config: { cert_path: join(mkdtempSync('/tmp/reissue-files-'), 'cert.pem') } });
    agentCert = (await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [byAgent.id] }))).id as string;
    fileCert = (await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [files.id] }))).id as string;
    for (const id of [agentCert, fileCert]) {
      const job = (await p.http.post(`/api/v1/certificates/${id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
      const row = await p.waitForJob(job, ['Completed', 'Failed'], 30_000);
      expect(row.status, `${row.last_error}\n${agent.logs().slice(-3000)}`).toBe('Completed');
    }
    await waitFor('both first deployments', async () => (await p.db.query(
      `SELECT count(*)::int AS n FROM jobs WHERE type = 'Deployment' AND status = 'Completed' AND certificate_id = ANY($1)`, [[agentCert, fileCert]])).rows[0].n === 2, 30_000);
    expect(await servedAfterReload(served, (await newest(agentCert)).fingerprint_sha256)).toBe((await newest(agentCert)).fingerprint_sha256);
  }, 120_000);
  afterAll(async () => {
    await agent?.kill();
    nginx?.stop();
    await p?.close();
  });

  it('revokes the agent-deployed certificate\'s old serial after the agent verified nginx serves the new one; keeps the unverifiable one', async () => {
    const oldAgent = await newest(agentCert);
    const oldFile = await newest(fileCert);
    const res = await p.http.post(`/api/v1/issuers/${inv.issuerId}/reissue`).set(p.auth()).send({ reason: 'agent drill' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const get = async () => (await p.http.get(`/api/v1/issuers/${inv.issuerId}/reissue/${res.body.drill_id}`).set(p.auth()).expect(200)).body;
    await waitFor('the drill completed', async () => (await get()).status === 'completed', 60_000);
    const done = await get();
    expect(done).toMatchObject({ total: 2, issued: 2, deployed: 2, verified: 1, revoked: 1, failed: 0, unverified: 1 });
    expect(done.problems).toEqual([{ certificate_id: fileCert, state: 'unverified', error: expect.stringMatching(/no post-deploy TLS check proved it is served on: .*; old serials kept/) }]);

    const fresh = await newest(agentCert);
    expect(fresh.serial_number).not.toBe(oldAgent.serial_number);
    const deployment = (await p.db.query(
      `SELECT * FROM jobs WHERE certificate_id = $1 AND type = 'Deployment' ORDER BY created_at DESC LIMIT 1`, [agentCert])).rows[0];
    expect(deployment).toMatchObject({ status: 'Completed', agent_id: expect.any(String), verification_status: 'success', verification_fingerprint: fresh.fingerprint_sha256 });
    expect(await served()).toBe(fresh.fingerprint_sha256);
    expect(await revokedSerials(agentCert)).toEqual([oldAgent.serial_number]);
    expect(await revokedSerials(fileCert)).toEqual([]);
    expect((await newest(fileCert)).serial_number).not.toBe(oldFile.serial_number);
  });
});
