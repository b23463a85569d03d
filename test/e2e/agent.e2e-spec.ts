import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyMismatch, servedFingerprint } from '@certctl/deploy';
import { certificatePemToDer, splitPemChain } from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { AgentHealthService } from '../../apps/orchestrator/src/modules/scheduler/agent-health.service';
import { JobTimeoutsService } from '../../apps/orchestrator/src/modules/scheduler/job-timeouts.service';
import { missingPeer, NginxPeer, servedAfterReload as servedSettled } from '../../libs/deploy/src/testing/peers';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { AgentProcess } from '../support/agent-process';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const missing = missingPeer('nginx');
if (missing && process.env.CI !== 'true') console.warn(`[agent.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

/**
 * The agent as shipped (the esbuild bundle, run with plain node) against the api and orchestrator, with
 * CERTCTL_KEYGEN_MODE=agent, the Local CA and a real nginx on loopback.
 */
suite('the certctl agent with a real nginx', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let nginx: NginxPeer;
  let serverUrl: string;
  let agentId: string;
  let agentKey: string;
  let targetId: string;
  let certId: string;
  let agent: AgentProcess | undefined;
  const home = mkdtempSync(join(tmpdir(), 'certctl-agent-e2e-'));
  const keyDir = join(home, 'keys');
  const stateDir = join(home, 'state');
  const discoveryDir = join(home, 'discover');

  const agentEnv = (overrides: Record<string, string> = {}) => ({
    CERTCTL_SERVER_URL: serverUrl, CERTCTL_AGENT_ID: agentId, CERTCTL_API_KEY: agentKey,
    CERTCTL_KEY_DIR: keyDir, CERTCTL_AGENT_STATE_DIR: stateDir,
    CERTCTL_AGENT_POLL_INTERVAL: '200ms', CERTCTL_AGENT_HEARTBEAT_INTERVAL: '1s',
    CERTCTL_AGENT_BACKOFF_BASE: '100ms', CERTCTL_AGENT_MAX_BACKOFF: '1s', CERTCTL_DISCOVERY_DIRS: discoveryDir,
    ...overrides,
  });
  const startAgent = async () => {
    agent = await AgentProcess.start(agentEnv());
    return agent;
  };

  // The validate step goes through this script: BLOCK makes it hang (the test then kills the agent), SLOW makes it take a second.
  let validateScript: string;
  const marker = (name: string) => nginx.scratch.path(name);

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and nginx cannot run: ${missing}`);
    // A 1 ms read cache: the counters are read right after each report.
    p = await startPlatform({ CERTCTL_KEYGEN_MODE: 'agent', CERTCTL_AGENT_OFFLINE_AFTER: '5m', CERTCTL_READ_CACHE_TTL: '1ms' });
    const port = await freePort();
    await p.app.listen(port, '127.0.0.1');
    serverUrl = `http://127.0.0.1:${port}`;
    inv = await createInventory(p);
    const placeholder = await (await TestCa.create()).issue();
    nginx = await NginxPeer.start({ certPem: placeholder.certPem, keyPem: placeholder.keyPem! });
    validateScript = nginx.scratch.path('validate.sh');
    writeFileSync(validateScript, `#!/bin/sh
if [ -e '${marker('BLOCK')}' ]; then rm -f '${marker('BLOCK')}'; echo $$ > '${marker('VALIDATE_PID')}'; touch '${marker('ENTERED')}'; exec sleep 60; fi
if [ -e '${marker('SLOW')}' ]; then rm -f '${marker('SLOW')}'; touch '${marker('ENTERED')}'; sleep 1; fi
exec ${nginx.validateCommand}
`);
    chmodSync(validateScript, 0o755);

    // Something for filesystem discovery: a PEM bundle, a DER file and a key (which must never be reported).
    mkdirSync(join(discoveryDir, 'nested'), { recursive: true });
    const found = await (await TestCa.create()).issue(['legacy.example.com']);
    writeFileSync(join(discoveryDir, 'legacy.pem'), found.certPem + found.chainPem);
    writeFileSync(join(discoveryDir, 'nested', 'legacy.der'), certificatePemToDer(found.certPem));
    writeFileSync(join(discoveryDir, 'legacy.key'), found.keyPem!);

    const registered = await post(p, '/api/v1/agents', { name: unique('edge-agent') });
    agentId = registered.id as string;
    agentKey = registered.api_key as string;
  });

  afterAll(async () => {
    await agent?.kill();
    try {
      process.kill(Number(readFileSync(marker('VALIDATE_PID'), 'utf8')), 'SIGKILL');
    } catch {
      // no hanging validate step left
    }
    nginx?.stop();
    await p?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const served = () => servedFingerprint({ host: '127.0.0.1', port: nginx.port });
  const servedAfterReload = (expected: string) => servedSettled(served, expected);
  const versions = async () => (await p.db.query(
    'SELECT id, fingerprint_sha256, pem_chain, encrypted_private_key, created_at FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at, id', [certId])).rows;
  const latestDeployment = async () => (await p.db.query(
    `SELECT * FROM jobs WHERE certificate_id = $1 AND type = 'Deployment' ORDER BY created_at DESC, id DESC LIMIT 1`, [certId])).rows[0];
  const counter = async (series: string) => {
    const text = (await p.http.get('/api/v1/metrics/prometheus').set(p.auth()).expect(200)).text;
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };
  const renew = async () => {
    const res = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({});
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.job_id as string;
  };
  /** The Deployment job of the next version (the one after `versionCount` versions). */
  const deploymentAfter = async (versionCount: number) => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const all = await versions();
      if (all.length > versionCount) {
        const job = await latestDeployment();
        if (job && job.created_at >= all.at(-1).created_at) return job;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no deployment of a version after ${versionCount}:\n${agent?.logs().slice(-3000)}`);
  };
  const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms:\n${agent?.logs().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('issues with a key made by the agent (none in PostgreSQL) and deploys it to nginx, counted in certctl_deploy_*', async () => {
    const attemptsBefore = await counter('certctl_deploy_attempts_total{target_type="NGINX",result="success"}');
    const target = await post(p, '/api/v1/targets', {
      name: unique('nginx'), type: 'NGINX', agent_id: agentId,
      config: {
        cert_path: nginx.certPath, key_path: nginx.keyPath, validate_command: validateScript, reload_command: nginx.reloadCommand,
        post_deploy_verify: { enabled: true, endpoint: `127.0.0.1:${nginx.port}` }, post_deploy_verify_attempts: 8, post_deploy_verify_backoff: '100ms',
      },
    });
    targetId = target.id as string;
    certId = (await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [targetId] }))).id as string;
    const issuance = await renew();
    expect((await p.waitForJob(issuance, ['AwaitingCSR'])).status).toBe('AwaitingCSR');

    await startAgent();
    const issued = await p.waitForJob(issuance, ['Completed', 'Failed']);
    expect(issued, issued.last_error).toMatchObject({ status: 'Completed' });
    const [version] = await versions();
    expect(version.encrypted_private_key).toBeNull();
    const deployment = await p.waitForJob((await latestDeployment()).id, ['Completed', 'Failed']);
    expect(deployment, deployment.last_error).toMatchObject({ status: 'Completed', agent_id: agentId, verification_status: 'success', verification_fingerprint: version.fingerprint_sha256 });
    expect(deployment.deployment_result).toMatchObject({ outcome: 'deployed', reported_by: 'agent', skipped_as_idempotent: false });

    // nginx serves the new leaf, whose key is the one in the agent's key directory (0600 in a 0700 directory).
    expect(await servedAfterReload(version.fingerprint_sha256)).toBe(version.fingerprint_sha256);
    const keyFile = join(keyDir, `${certId}.key`);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(keyDir).mode & 0o777).toBe(0o700);
    const leaf = splitPemChain(version.pem_chain)[0]!;
    expect(keyMismatch(leaf, readFileSync(keyFile, 'utf8'))).toBeUndefined();
    expect(readFileSync(nginx.keyPath, 'utf8')).toBe(readFileSync(keyFile, 'utf8'));
    // The key never reached the server: not in the version row, not in the job rows, not in the agent's logs.
    const keyBody = readFileSync(keyFile, 'utf8').split('\n')[1]!;
    const leaked = await p.db.query(`SELECT count(*)::int AS n FROM jobs WHERE certificate_id = $1 AND (coalesce(csr_pem, '') LIKE '%PRIVATE KEY%' OR coalesce(last_error, '') LIKE $2)`, [certId, `%${keyBody}%`]);
    expect(leaked.rows[0].n).toBe(0);
    expect(agent!.logs()).not.toContain(keyBody);
    // A deployment claimed by an ordinary poll is no recovery: the agent says nothing about handed-back work.
    await agent!.waitForLog('deployment finished');
    expect(agent!.logs()).not.toContain('handed back deployments');

    expect(await counter('certctl_deploy_attempts_total{target_type="NGINX",result="success"}')).toBe(attemptsBefore + 1);
    const row = (await p.http.get(`/api/v1/agents/${agentId}`).set(p.auth()).expect(200)).body;
    expect(row).toMatchObject({ status: 'Online', version: expect.stringMatching(/^\d+\.\d+\.\d+/), hostname: expect.any(String), os: expect.stringMatching(/linux/), architecture: process.arch });
    expect(row.ip_address).toMatch(/\d+\.\d+\.\d+\.\d+|:/);
  });

  it('reports the certificates found under its discovery directories: every block of a bundle, DER files, never a key', async () => {
    await waitFor('discovery report', async () => (await p.db.query('SELECT 1 FROM discovered_certificates WHERE agent_id = $1', [agentId])).rows.length >= 3);
    const rows = (await p.db.query('SELECT source_path, source_format, common_name FROM discovered_certificates WHERE agent_id = $1 ORDER BY source_path, common_name', [agentId])).rows;
    expect(rows).toEqual([
      { source_path: join(discoveryDir, 'legacy.pem'), source_format: 'PEM', common_name: 'certctl deploy test CA' },
      { source_path: join(discoveryDir, 'legacy.pem'), source_format: 'PEM', common_name: 'legacy.example.com' },
      { source_path: join(discoveryDir, 'nested', 'legacy.der'), source_format: 'DER', common_name: 'legacy.example.com' },
    ]);
  });

  it('a failing reload is rolled back on the host and reported: certctl_deploy_rollback_total{outcome="restored"} counts it', async () => {
    const restoredBefore = await counter('certctl_deploy_rollback_total{target_type="NGINX",outcome="restored"}');
    const reloadFailuresBefore = await counter('certctl_deploy_reload_failures_total{target_type="NGINX"}');
    const [previous] = await versions();
    const keyBefore = readFileSync(join(keyDir, `${certId}.key`), 'utf8');
    nginx.scratch.failNextReload();
    await renew();
    const job = await p.waitForJob((await deploymentAfter(1)).id, ['Completed', 'Failed']);
    expect(job.status).toBe('Failed');
    // The job row says how the reload ended, never what it printed.
    expect(job.last_error).toMatch(/^reload failed, rolled back: \/.*\/reload\.sh: exited with status 7$/);
    expect(job.deployment_result).toMatchObject({ outcome: 'failed', failed_stage: 'reload', rollback: 'restored', rolled_back: true, reported_by: 'agent' });
    expect(await servedAfterReload(previous.fingerprint_sha256)).toBe(previous.fingerprint_sha256);
    expect(readFileSync(nginx.keyPath, 'utf8')).toBe(keyBefore);
    expect(await counter('certctl_deploy_rollback_total{target_type="NGINX",outcome="restored"}')).toBe(restoredBefore + 1);
    expect(await counter('certctl_deploy_reload_failures_total{target_type="NGINX"}')).toBe(reloadFailuresBefore + 1);
    expect((await p.db.query(`SELECT 1 FROM notification_events WHERE certificate_id = $1 AND type = 'DeploymentFailure'`, [certId])).rows.length).toBeGreaterThan(0);

    // Deploying the same version again works: the key of the new version was kept on the host.
    const redeploy = await p.http.post(`/api/v1/certificates/${certId}/deploy`).set(p.auth()).send({}).expect(202);
    const again = await p.waitForJob(redeploy.body.jobs[0].job_id, ['Completed', 'Failed']);
    expect(again, again.last_error).toMatchObject({ status: 'Completed' });
    const newest = (await versions()).at(-1);
    expect(await servedAfterReload(newest.fingerprint_sha256)).toBe(newest.fingerprint_sha256);
  });

  it('kill -9 mid-deploy: the restarted agent finishes the deployment from its journal, with exactly one new version', async () => {
    const before = (await versions()).length;
    writeFileSync(marker('BLOCK'), '');
    await renew();
    const job = await deploymentAfter(before);
    await waitFor('the validate step to start', () => existsSync(marker('ENTERED')));
    await agent!.kill();
    process.kill(Number(readFileSync(marker('VALIDATE_PID'), 'utf8')), 'SIGKILL');
    rmSync(marker('ENTERED'));
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [job.id])).rows[0].status).toBe('Running');
    expect(readdirSync(join(stateDir, 'journal'))).toContain(`${encodeURIComponent(job.id)}.json`);

    await startAgent();
    const done = await p.waitForJob(job.id, ['Completed', 'Failed']);
    expect(done, done.last_error).toMatchObject({ status: 'Completed', verification_status: 'success' });
    await agent!.waitForLog('resuming a deployment interrupted by a restart');
    const all = await versions();
    expect(all.length).toBe(before + 1);
    expect(await servedAfterReload(all.at(-1).fingerprint_sha256)).toBe(all.at(-1).fingerprint_sha256);
    // The agent reports first and clears its journal entry after (a crash in between re-sends, never loses, the report).
    await waitFor('the journal entry to be cleared', () => readdirSync(join(stateDir, 'journal')).filter((f) => f.endsWith('.json')).length === 0);
  });

  it('kill -9 after the server claimed a deployment but before the agent journaled it: the restarted agent gets it back, deploys it once', async () => {
    await agent!.kill();
    // The agent talks to the api through this relay, which kills the agent the moment a work answer carries a
    // deployment: the api has moved it to Running, and the answer never reaches the agent's journal.
    let interrupted: { jobId: string; status: string } | undefined;
    const relay: Server = createServer((req, res) => {
      const upstream = httpRequest(`${serverUrl}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks);
          const deployment = /\/work(\?|$)/.test(req.url ?? '') && !interrupted
            ? (JSON.parse(body.toString()).jobs as Array<{ id: string; type: string; status: string }>).find((j) => j.type === 'Deployment')
            : undefined;
          if (!deployment) {
            res.writeHead(answer.statusCode ?? 502, answer.headers).end(body);
            return;
          }
          interrupted = { jobId: deployment.id, status: deployment.status };
          void agent!.kill().then(() => res.destroy());
        });
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const before = (await versions()).length;
      agent = await AgentProcess.start(agentEnv({ CERTCTL_SERVER_URL: `http://127.0.0.1:${(relay.address() as { port: number }).port}` }));
      await renew();
      const job = await deploymentAfter(before);
      await waitFor('the agent to be killed on the work answer', () => interrupted !== undefined && !agent!.running);
      expect(interrupted).toEqual({ jobId: job.id, status: 'Running' });
      expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [job.id])).rows[0].status).toBe('Running');
      expect(readdirSync(join(stateDir, 'journal')).filter((f) => f.endsWith('.json'))).toEqual([]);
    } finally {
      relay.closeAllConnections();
      relay.close();
    }

    // Straight to the api this time. Its heartbeats keep it Online, so the silent-agent sweep would never free the job.
    const before = (await versions()).length;
    await startAgent();
    const done = await p.waitForJob(interrupted!.jobId, ['Completed', 'Failed']);
    expect(done, done.last_error).toMatchObject({ status: 'Completed', agent_id: agentId, attempts: 1, verification_status: 'success' });
    await agent!.waitForLog('the server handed back deployments claimed earlier but never journaled here');
    // Exactly one version for the renewal and one deployment of it; nginx serves that version.
    const all = await versions();
    expect(all.length).toBe(before);
    const deployments = await p.db.query(`SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment' AND created_at >= $2`, [certId, all.at(-1).created_at]);
    expect(deployments.rows.map((r) => r.id)).toEqual([interrupted!.jobId]);
    expect(await servedAfterReload(all.at(-1).fingerprint_sha256)).toBe(all.at(-1).fingerprint_sha256);
    expect(agent!.events().filter((e) => e.msg === 'deployment finished' && e.job_id === interrupted!.jobId)).toHaveLength(1);
    await waitFor('the journal entry to be cleared', () => readdirSync(join(stateDir, 'journal')).filter((f) => f.endsWith('.json')).length === 0);
  });

  it('a stopped agent goes Offline and its deployment returns to Pending; it completes when the agent is back', async () => {
    const before = (await versions()).length;
    writeFileSync(marker('BLOCK'), '');
    await renew();
    const job = await deploymentAfter(before);
    await waitFor('the validate step to start', () => existsSync(marker('ENTERED')));
    await agent!.kill();
    process.kill(Number(readFileSync(marker('VALIDATE_PID'), 'utf8')), 'SIGKILL');
    rmSync(marker('ENTERED'));
    // This time the host lost the agent's state too: only the server can bring the work back.
    rmSync(join(stateDir, 'journal'), { recursive: true, force: true });

    await p.db.query(`UPDATE agents SET last_heartbeat_at = now() - interval '10 minutes' WHERE id = $1`, [agentId]);
    await p.orchestrator.get(AgentHealthService).sweep();
    await p.orchestrator.get(JobTimeoutsService).sweep();
    expect((await p.db.query('SELECT status FROM agents WHERE id = $1', [agentId])).rows[0].status).toBe('Offline');
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [job.id])).rows[0].status).toBe('Pending');

    await startAgent();
    const done = await p.waitForJob(job.id, ['Completed', 'Failed']);
    expect(done, done.last_error).toMatchObject({ status: 'Completed' });
    expect((await p.db.query('SELECT status FROM agents WHERE id = $1', [agentId])).rows[0].status).toBe('Online');
    const all = await versions();
    expect(all.length).toBe(before + 1);
    expect(await servedAfterReload(all.at(-1).fingerprint_sha256)).toBe(all.at(-1).fingerprint_sha256);
  });

  it('SIGTERM lets the deployment in progress finish and report, then the agent exits 0', async () => {
    const before = (await versions()).length;
    writeFileSync(marker('SLOW'), '');
    await renew();
    const job = await deploymentAfter(before);
    await waitFor('the validate step to start', () => existsSync(marker('ENTERED')));
    rmSync(marker('ENTERED'));
    const exit = await agent!.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(agent!.logs()).toContain('agent stopped');
    const row = (await p.db.query('SELECT status, last_error FROM jobs WHERE id = $1', [job.id])).rows[0];
    expect(row, row.last_error).toMatchObject({ status: 'Completed' });
    expect(readdirSync(join(stateDir, 'journal')).filter((f) => f.endsWith('.json'))).toEqual([]);
    await startAgent();
  });

  it('a CSR the server refuses (422) is reported once, fails the job with the reason, and is not sent again', async () => {
    const profile = await post(p, '/api/v1/profiles', { name: unique('rsa-only'), allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 2048 }] });
    const fileDir = join(home, 'file-target');
    const fileTarget = await post(p, '/api/v1/targets', { name: unique('files'), type: 'File', agent_id: agentId, config: { cert_path: join(fileDir, 'cert.pem'), key_path: join(fileDir, 'key.pem') } });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [fileTarget.id], certificate_profile_id: profile.id }));
    const res = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
    const failed = await p.waitForJob(res.body.job_id, ['Failed', 'Completed']);
    expect(failed.status).toBe('Failed');
    expect(failed.last_error).toMatch(/refused the agent's CSR: .*not allowed by the profile/);
    // Several poll intervals later, still exactly one refusal: no loop.
    await new Promise((r) => setTimeout(r, 1500));
    expect(agent!.events().filter((e) => e.msg === 'the server refused the CSR; not sending it again' && e.job_id === res.body.job_id)).toHaveLength(1);
    const notes = await p.db.query(`SELECT message FROM notification_events WHERE certificate_id = $1 AND type = 'RenewalFailure'`, [cert.id]);
    expect(notes.rows[0]?.message).toMatch(/refused the agent's CSR/);
    expect(existsSync(join(fileDir, 'cert.pem'))).toBe(false);
  });

  it('the api takes a Failed report for an AwaitingCSR job only from an agent deploying that certificate, and only Failed', async () => {
    const stranger = await post(p, '/api/v1/agents', { name: unique('stranger') });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [targetId] }));
    await agent!.stop(); // so the real agent does not answer this job first
    try {
      const res = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
      const jobId = res.body.job_id as string;
      await p.waitForJob(jobId, ['AwaitingCSR']);
      const report = (id: string, key: string, body: object) => p.http.post(`/api/v1/agents/${id}/jobs/${jobId}/status`).set(p.auth(key)).send(body);
      expect((await report(stranger.id, stranger.api_key, { status: 'Failed', error: 'not mine' })).status).toBe(404);
      const completed = await report(agentId, agentKey, { status: 'Completed' });
      expect(completed.status).toBe(409);
      expect(completed.body.code).toBe('JOB_AWAITING_CSR');
      expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows[0].status).toBe('AwaitingCSR');
      await p.http.post(`/api/v1/jobs/${jobId}/cancel`).set(p.auth()).send({});
    } finally {
      await startAgent();
    }
  });

  it('an agent whose key is revoked stops with a clear message and exit code 3', async () => {
    const other = await post(p, '/api/v1/agents', { name: unique('doomed-agent') });
    const doomed = await AgentProcess.start(agentEnv({ CERTCTL_AGENT_ID: other.id, CERTCTL_API_KEY: other.api_key, CERTCTL_KEY_DIR: join(home, 'doomed-keys'), CERTCTL_AGENT_STATE_DIR: join(home, 'doomed-state'), CERTCTL_DISCOVERY_DIRS: '' }));
    try {
      await doomed.waitForLog('agent starting');
      await waitFor('the first heartbeat', async () => (await p.db.query(`SELECT status FROM agents WHERE id = $1`, [other.id])).rows[0].status === 'Online');
      const keys = (await p.http.get('/api/v1/auth/keys').set(p.auth()).expect(200)).body.data as Array<{ id: string; agent_id: string | null }>;
      const key = keys.find((k) => k.agent_id === other.id)!;
      await p.http.delete(`/api/v1/auth/keys/${key.id}`).set(p.auth()).expect((r) => expect([200, 204]).toContain(r.status));
      const exit = await Promise.race([doomed.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
      expect(exit).toEqual({ code: 3, signal: null });
      expect(doomed.stderr()).toMatch(/certctl-agent: stopped: the server refused this agent's API key .*revoked/);
      expect(doomed.stderr()).not.toContain(String(other.api_key));
    } finally {
      await doomed.kill();
    }
  });
});
