import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueJobId } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { createCsr, generateKeyPair, KeySpec, verifyChain } from '@certctl/pki';
import { IssuanceService } from '../../apps/orchestrator/src/modules/issuance/issuance.service';
import { certificateBody, createInventory, Inventory, keyWithRole, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const P256: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };

function opensslVerify(rootPem: string, chainPem: string, leafPem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'verify-'));
  writeFileSync(join(dir, 'root.pem'), rootPem);
  writeFileSync(join(dir, 'chain.pem'), chainPem || rootPem);
  writeFileSync(join(dir, 'leaf.pem'), leafPem);
  return execFileSync('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', '-purpose', 'sslserver', 'leaf.pem'], { cwd: dir, encoding: 'utf8' }).trim();
}

describe('issuance and renewal through the Local CA', () => {
  let p: PlatformHarness;
  let inv: Inventory;

  beforeAll(async () => {
    p = await startPlatform();
    inv = await createInventory(p);
  });
  afterAll(async () => p?.close());

  const renew = (certId: string, body: object = {}, key?: string) =>
    p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth(key)).send(body);

  it('issues with a server-generated key: version, Active certificate, deployment jobs and a notification', async () => {
    const target = await post(p, '/api/v1/targets', { name: unique('files'), type: 'File', config: { cert_path: '/tmp/x.crt' } });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    const res = await renew(cert.id as string);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ status: 'renewal_triggered', job_status: 'Pending' });
    const job = await p.waitForJob(res.body.job_id, ['Completed', 'Failed']);
    expect(job).toMatchObject({ status: 'Completed', type: 'Issuance', attempts: 1, last_error: null });

    const updated = (await p.http.get(`/api/v1/certificates/${cert.id}`).set(p.auth()).expect(200)).body;
    expect(updated.status).toBe('Active');
    const days = (Date.parse(updated.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89);
    expect(days).toBeLessThan(91);

    const versions = (await p.http.get(`/api/v1/certificates/${cert.id}/versions`).set(p.auth()).expect(200)).body;
    expect(versions.total).toBe(1);
    expect(versions.data[0]).toMatchObject({ key_algorithm: 'ECDSA', key_size: 256, job_id: job.id });
    expect(versions.data[0]).not.toHaveProperty('encrypted_private_key');
    const stored = await p.db.query('SELECT encrypted_private_key FROM certificate_versions WHERE certificate_id = $1', [cert.id]);
    expect(stored.rows[0].encrypted_private_key.toString('latin1')).not.toContain('PRIVATE KEY');

    // The chain verifies with openssl against the Local CA's root.
    const exported = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    expect(JSON.stringify(exported)).not.toContain('PRIVATE KEY');
    const root = await p.db.query('SELECT certificate_pem FROM issuer_authorities WHERE issuer_id = $1', [inv.issuerId]);
    expect(opensslVerify(root.rows[0].certificate_pem, exported.chain_pem, exported.cert_pem)).toBe('leaf.pem: OK');
    const download = await p.http.get(`/api/v1/certificates/${cert.id}/export/pem?download=true`).set(p.auth()).expect(200);
    expect(download.headers['content-type']).toContain('application/x-pem-file');
    expect(download.text).toBe(exported.full_pem);
    // A client asking for PEM by Accept gets the PEM text itself (not JSON, not an attachment).
    const asPem = await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).set('Accept', 'application/x-pem-file').expect(200);
    expect(asPem.headers['content-type']).toContain('application/x-pem-file');
    expect(asPem.headers['content-disposition']).toBeUndefined();
    expect(asPem.text).toBe(exported.full_pem);
    const asJson = await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).set('Accept', 'application/json, application/x-pem-file;q=0.5').expect(200);
    expect(asJson.headers['content-type']).toContain('application/json');

    const deployments = (await p.http.get(`/api/v1/certificates/${cert.id}/deployments`).set(p.auth()).expect(200)).body;
    // The orchestrator's deploy worker may already have taken it (test/e2e/deploy-*.e2e-spec.ts cover the deploy itself).
    expect(deployments.data).toEqual([expect.objectContaining({ target_id: target.id })]);
    expect(deployments.data[0]).not.toHaveProperty('agent_id'); // agentless: the unset agent_id is omitted
    // Agentless targets are queued for the orchestrator's deploy worker.
    const queued = await p.app.get(JobProducer).queue('deploy').getJob(queueJobId('certificate.deploy', deployments.data[0].id));
    expect(queued?.data).toMatchObject({ jobId: deployments.data[0].id, correlationId: res.headers["x-request-id"] });
    const notes = await p.db.query(`SELECT type, recipient FROM notification_events WHERE certificate_id = $1 AND type LIKE 'Renewal%'`, [cert.id]);
    expect(notes.rows).toEqual([expect.objectContaining({ type: 'RenewalSuccess', recipient: 'owner@example.com' })]);

    // A second run is a Renewal.
    const again = await renew(cert.id as string).expect(202);
    expect((await p.waitForJob(again.body.job_id, ['Completed', 'Failed'])).type).toBe('Renewal');
  });

  it('agent keygen: AwaitingCSR, the agent\'s CSR is checked, signed, picked up and deployed', async () => {
    const agent = await post(p, '/api/v1/agents', { name: unique('web') });
    const agentKey = agent.api_key as string;
    const target = await post(p, '/api/v1/targets', { name: unique('nginx'), type: 'NGINX', agent_id: agent.id });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    const triggered = await renew(cert.id as string).expect(202);
    await p.waitForJob(triggered.body.job_id, ['AwaitingCSR']);

    const work = (await p.http.get(`/api/v1/agents/${agent.id}/work`).set(p.auth(agentKey)).expect(200)).body;
    expect(work.count).toBe(1);
    expect(work.jobs[0]).toMatchObject({ id: triggered.body.job_id, status: 'AwaitingCSR', certificate_id: cert.id, common_name: cert.common_name, target_type: 'NGINX' });

    const keys = await generateKeyPair(P256);
    const wrongNames = await createCsr({ keys, keySpec: P256, commonName: cert.common_name, sans: ['evil.example.com'] });
    const refused = await p.http.post(`/api/v1/agents/${agent.id}/csr`).set(p.auth(agentKey)).send({ csr_pem: wrongNames, certificate_id: cert.id }).expect(422);
    expect(refused.body).toMatchObject({ code: 'CSR_REJECTED', message: expect.stringContaining('evil.example.com') });
    const malformed = await p.http.post(`/api/v1/agents/${agent.id}/csr`).set(p.auth(agentKey)).send({ csr_pem: 'garbage', certificate_id: cert.id }).expect(400);
    expect(malformed.body.details[0].field).toBe('csr_pem');

    const csrPem = await createCsr({ keys, keySpec: P256, commonName: cert.common_name, sans: cert.sans });
    const accepted = await p.http.post(`/api/v1/agents/${agent.id}/csr`).set(p.auth(agentKey)).send({ csr_pem: csrPem, certificate_id: cert.id }).expect(202);
    expect(accepted.body.job_id).toBe(triggered.body.job_id);
    await p.waitForJob(triggered.body.job_id, ['Completed']);
    await p.http.post(`/api/v1/agents/${agent.id}/csr`).set(p.auth(agentKey)).send({ csr_pem: csrPem, certificate_id: cert.id }).expect(409);

    // The server never had this key: no encrypted key on the version, and the issued certificate is for the agent's key.
    const stored = await p.db.query('SELECT encrypted_private_key, csr_pem FROM certificate_versions WHERE certificate_id = $1', [cert.id]);
    expect(stored.rows[0]).toMatchObject({ encrypted_private_key: null, csr_pem: csrPem });
    const pickup = (await p.http.get(`/api/v1/agents/${agent.id}/certificates/${cert.id}`).set(p.auth(agentKey)).expect(200)).body;
    const { x509 } = await import('@certctl/pki');
    const leaf = new x509.X509Certificate(pickup.certificate_pem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----');
    const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
    expect(Buffer.from(leaf.publicKey.rawData).equals(spki)).toBe(true);

    // The deployment waits for the agent, is claimed once, and the agent's report closes it.
    const claim = (await p.http.get(`/api/v1/agents/${agent.id}/work`).set(p.auth(agentKey)).expect(200)).body;
    expect(claim.jobs).toEqual([expect.objectContaining({ type: 'Deployment', status: 'Running', target_id: target.id })]);
    expect((await p.http.get(`/api/v1/agents/${agent.id}/work`).set(p.auth(agentKey)).expect(200)).body.count).toBe(0);
    await p.http.post(`/api/v1/agents/${agent.id}/jobs/${claim.jobs[0].id}/status`).set(p.auth(agentKey)).send({ status: 'Completed' }).expect(200);
    await p.http.post(`/api/v1/agents/${agent.id}/jobs/${claim.jobs[0].id}/status`).set(p.auth(agentKey)).send({ status: 'Failed' }).expect(409);
    const after = (await p.http.get(`/api/v1/certificates/${cert.id}`).set(p.auth()).expect(200)).body;
    expect(after.last_deployment_at).not.toBeNull();
    const notes = await p.db.query(`SELECT type FROM notification_events WHERE certificate_id = $1 ORDER BY created_at`, [cert.id]);
    expect(notes.rows.map((r) => r.type)).toEqual(['RenewalSuccess', 'DeploymentSuccess']);

    // Another agent cannot see this agent's certificate.
    const other = await post(p, '/api/v1/agents', { name: unique('other') });
    await p.http.get(`/api/v1/agents/${other.id}/certificates/${cert.id}`).set(p.auth(other.api_key as string)).expect(404);
  });

  it('checks agent CSRs against the profile (422) and answers a retired agent 410', async () => {
    const profile = await post(p, '/api/v1/profiles', { name: unique('ec-only'), allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 384 }] });
    const agent = await post(p, '/api/v1/agents', { name: unique('db') });
    const target = await post(p, '/api/v1/targets', { name: unique('pg'), type: 'File', agent_id: agent.id });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id], certificate_profile_id: profile.id }));
    const job = (await renew(cert.id as string).expect(202)).body.job_id;
    await p.waitForJob(job, ['AwaitingCSR']);
    const keys = await generateKeyPair(P256);
    const csr = await createCsr({ keys, keySpec: P256, commonName: cert.common_name, sans: cert.sans });
    const refused = await p.http.post(`/api/v1/agents/${agent.id}/csr`).set(p.auth(agent.api_key as string)).send({ csr_pem: csr, certificate_id: cert.id }).expect(422);
    expect(refused.body.message).toMatch(/ECDSA 256 is not allowed/);

    await p.db.query(`UPDATE agents SET retired_at = now(), retired_reason = 'decommissioned' WHERE id = $1`, [agent.id]);
    for (const call of [
      p.http.get(`/api/v1/agents/${agent.id}/work`),
      p.http.post(`/api/v1/agents/${agent.id}/heartbeat`).send({}),
      p.http.post(`/api/v1/agents/${agent.id}/csr`).send({ csr_pem: csr, certificate_id: cert.id }),
    ]) {
      const res = await call.set(p.auth(agent.api_key as string));
      expect(res.status).toBe(410);
      expect(res.body.code).toBe('AGENT_RETIRED');
    }
  });

  it('refuses a second renewal while one is open (409) unless forced, and renewals of archived certificates', async () => {
    const agent = await post(p, '/api/v1/agents', { name: unique('slow') });
    const target = await post(p, '/api/v1/targets', { name: unique('t'), type: 'File', agent_id: agent.id });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    const first = (await renew(cert.id as string).expect(202)).body.job_id;
    await p.waitForJob(first, ['AwaitingCSR']);
    const conflict = await renew(cert.id as string).expect(409);
    expect(conflict.body.code).toBe('RENEWAL_IN_PROGRESS');
    const forced = await p.http.post(`/api/v1/certificates/${cert.id}/renew?force=true`).set(p.auth()).send({}).expect(202);
    expect(forced.body.cancelled_job_ids).toEqual([first]);
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [first])).rows[0].status).toBe('Cancelled');

    const archived = await post(p, '/api/v1/certificates', certificateBody(inv));
    await p.http.delete(`/api/v1/certificates/${archived.id}`).set(p.auth()).expect(204);
    expect((await renew(archived.id as string).expect(409)).body.code).toBe('CERTIFICATE_NOT_RENEWABLE');
    await renew('mc-missing').expect(404);
  });

  it('holds jobs of an approval-gated profile; the requester cannot approve, another admin can', async () => {
    const profile = await post(p, '/api/v1/profiles', { name: unique('gated'), requires_approval: true });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: profile.id }));
    const requester = await keyWithRole(p, 'operator');
    const approver = await keyWithRole(p, 'operator');
    const res = await renew(cert.id as string, {}, requester).expect(202);
    expect(res.body.job_status).toBe('AwaitingApproval');
    const self = await p.http.post(`/api/v1/jobs/${res.body.job_id}/approve`).set(p.auth(requester)).send({}).expect(403);
    expect(self.body.code).toBe('SELF_APPROVAL');
    await p.http.post(`/api/v1/jobs/${res.body.job_id}/approve`).set(p.auth(approver)).send({ note: 'change ticket 42' }).expect(200);
    const done = await p.waitForJob(res.body.job_id, ['Completed', 'Failed']);
    expect(done).toMatchObject({ status: 'Completed', decided_by: expect.stringMatching(/^operator-/), decision_note: 'change ticket 42' });
    await p.http.post(`/api/v1/jobs/${res.body.job_id}/approve`).set(p.auth(approver)).send({}).expect(409);

    const second = await renew(cert.id as string, {}, requester).expect(202);
    await p.http.post(`/api/v1/jobs/${second.body.job_id}/reject`).set(p.auth(approver)).send({ note: 'not now' }).expect(200);
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [second.body.job_id])).rows[0].status).toBe('Cancelled');
  });

  it('tests an issuer and refuses issuer configs with missing fields (400 naming the field)', async () => {
    const tested = (await p.http.post(`/api/v1/issuers/${inv.issuerId}/test`).set(p.auth()).expect(200)).body;
    expect(tested).toMatchObject({ status: 'success', message: expect.stringContaining('certctl Local CA') });
    expect((await p.http.get(`/api/v1/issuers/${inv.issuerId}`).set(p.auth())).body.test_status).toBe('success');
    const noDirectory = await p.http.post('/api/v1/issuers').set(p.auth()).send({ name: unique('acme'), type: 'ACME', config: {} }).expect(400);
    expect(noDirectory.body.details[0].field).toBe('config.directory_url');
    const dnsWithoutScripts = await p.http.post('/api/v1/issuers').set(p.auth())
      .send({ name: unique('acme'), type: 'ACME', config: { directory_url: 'https://acme.example/dir', challenge_type: 'dns-01' } }).expect(400);
    expect(dnsWithoutScripts.body.details[0].field).toBe('config.dns_present_script');
    const secret = await post(p, '/api/v1/issuers', { name: unique('acme'), type: 'ACME', config: { directory_url: 'https://acme.example/dir', eab_kid: 'kid', eab_hmac_key: 'c2VjcmV0LWhtYWM' } });
    expect(secret.config.eab_hmac_key).toBe('********');
    const row = await p.db.query('SELECT config::text AS c, encrypted_config FROM issuers WHERE id = $1', [secret.id]);
    expect(row.rows[0].c).not.toContain('c2VjcmV0LWhtYWM');
    expect(row.rows[0].encrypted_config).not.toBeNull();
  });

  it('fails a job the CA refuses for good, with the reason and a RenewalFailure notification', async () => {
    const broken = await post(p, '/api/v1/issuers', { name: unique('subca'), type: 'GenericCA', config: { ca_cert_path: '/nonexistent/ca.pem', ca_key_path: '/nonexistent/ca.key' } });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { issuer_id: broken.id }));
    const job = (await renew(cert.id as string).expect(202)).body.job_id;
    const failed = await p.waitForJob(job, ['Failed', 'Completed']);
    expect(failed).toMatchObject({ status: 'Failed', last_error: expect.stringMatching(/ENOENT.*\/nonexistent\/ca\.(pem|key)/) });
    expect((await p.http.get(`/api/v1/certificates/${cert.id}`).set(p.auth())).body.status).toBe('Failed');
    const notes = await p.db.query(`SELECT type, message FROM notification_events WHERE certificate_id = $1`, [cert.id]);
    expect(notes.rows).toEqual([expect.objectContaining({ type: 'RenewalFailure' })]);
  });

  it('retries an unreachable CA with backoff up to the policy\'s budget, then fails with the CA error', async () => {
    const policy = await post(p, '/api/v1/renewal-policies', { name: unique('retry2'), max_retries: 2 });
    const offline = await post(p, '/api/v1/issuers', { name: unique('acme-down'), type: 'ACME', config: { directory_url: 'http://127.0.0.1:1/directory' } });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { issuer_id: offline.id, renewal_policy_id: policy.id }));
    const job = (await renew(cert.id as string).expect(202)).body.job_id;
    const failed = await p.waitForJob(job, ['Failed', 'Completed'], 30_000);
    expect(failed).toMatchObject({ status: 'Failed', attempts: 3, max_attempts: 3 });
    expect(failed.last_error).toMatch(/ECONNREFUSED|unreachable|connect/i);
    const audit = await p.db.query(`SELECT details FROM audit_events WHERE action = 'renewal_job_failed' AND resource_id = $1`, [job]);
    expect(audit.rows[0].details.attempts).toBe(3);
  });

  it('stores one version per job even when the same job runs twice at once (a crash-and-retry)', async () => {
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv));
    const [{ id }] = (await p.db.query(
      `INSERT INTO jobs (id, type, certificate_id, status, requested_by) VALUES ($1, 'Issuance', $2, 'Running', 'test') RETURNING id`,
      [`job-dup-${cert.id}`, cert.id],
    )).rows;
    const issuance = p.orchestrator.get(IssuanceService);
    await Promise.allSettled([issuance.run(id), issuance.run(id), issuance.run(id)]);
    const versions = await p.db.query('SELECT count(*)::int AS n FROM certificate_versions WHERE job_id = $1', [id]);
    expect(versions.rows[0].n).toBe(1);
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [id])).rows[0].status).toBe('Completed');
  });

  it('trusts the chain it hands out (libs/pki verification of an issued certificate)', async () => {
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv));
    await p.waitForJob((await renew(cert.id as string).expect(202)).body.job_id, ['Completed']);
    const exported = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    const root = await p.db.query('SELECT certificate_pem FROM issuer_authorities WHERE issuer_id = $1', [inv.issuerId]);
    const chain = await verifyChain(exported.cert_pem, [], [root.rows[0].certificate_pem]);
    expect(chain).toHaveLength(2);
  });
});
