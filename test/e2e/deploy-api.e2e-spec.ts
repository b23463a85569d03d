import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/** The deploy API's edges: target config validation, target tests, deploy preconditions, agent-reported results. */
describe('deploy API', () => {
  let p: PlatformHarness;
  let inv: Inventory;

  beforeAll(async () => {
    p = await startPlatform();
    inv = await createInventory(p);
  });
  afterAll(async () => p?.close());

  const nginxConfig = (overrides: Record<string, unknown> = {}) => ({
    cert_path: '/etc/nginx/tls/c.pem', key_path: '/etc/nginx/tls/k.pem', validate_command: 'nginx -t', reload_command: 'nginx -s reload', ...overrides,
  });

  it.each([
    ['a missing required field', { cert_path: undefined }, 'config.cert_path', /is required/],
    ['a relative path', { key_path: 'tls/k.pem' }, 'config.key_path', /absolute/],
    ['".." in a path', { cert_path: '/etc/nginx/tls/../../shadow' }, 'config.cert_path', /\.\./],
    ['a command with ";"', { reload_command: 'nginx -s reload; rm -rf /' }, 'config.reload_command', /metacharacters/],
    ['a command with "|"', { validate_command: 'nginx -t | tee /tmp/x' }, 'config.validate_command', /metacharacters/],
    ['a command with "$("', { reload_command: 'nginx $(id)' }, 'config.reload_command', /metacharacters/],
    ['a command with backticks', { validate_command: 'nginx `id`' }, 'config.validate_command', /metacharacters/],
    ['a command outside the allow-list', { reload_command: 'nginx -s stop' }, 'config.reload_command', /CERTCTL_DEPLOY_COMMAND_ALLOWLIST/],
    ['a path outside the allowed roots', { key_path: '/etc/cron.d/k.pem' }, 'config.key_path', /CERTCTL_DEPLOY_ALLOWED_ROOTS/],
  ])('refuses a target config with %s: 400 naming the field', async (_what, overrides, field, message) => {
    const res = await p.http.post('/api/v1/targets').set(p.auth()).send({ name: unique('t'), type: 'NGINX', config: nginxConfig(overrides) });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.details).toEqual([{ field, message: expect.stringMatching(message) }]);
  });

  it('checks the config on update too, against the stored type', async () => {
    const target = await post(p, '/api/v1/targets', { name: unique('t'), type: 'HAProxy', config: { pem_path: '/etc/haproxy/h.pem', reload_command: 'true' } });
    const res = await p.http.put(`/api/v1/targets/${target.id}`).set(p.auth()).send({ config: { reload_command: 'true' } }).expect(400);
    expect(res.body.details[0].field).toBe('config.pem_path');
    await p.http.put(`/api/v1/targets/${target.id}`).set(p.auth()).send({ config: { pem_path: '/etc/haproxy/h2.pem', reload_command: 'true' } }).expect(200);
  });

  it('stores SSH secrets encrypted and never shows them', async () => {
    const config = {
      host: '127.0.0.1', user: 'deploy', auth_method: 'password', password: 's3cret-pass', host_key_fingerprint: `SHA256:${'A'.repeat(43)}`,
      cert_path: '/srv/tls/c.pem',
    };
    const created = await post(p, '/api/v1/targets', { name: unique('ssh'), type: 'SSH', config });
    expect(created.config.password).toBe('********');
    const row = (await p.db.query('SELECT config, encrypted_config FROM deployment_targets WHERE id = $1', [created.id])).rows[0];
    expect(JSON.stringify(row.config)).not.toContain('s3cret-pass');
    expect(row.encrypted_config.toString('latin1')).not.toContain('s3cret-pass');
    // Sending "********" back keeps the stored secret.
    await p.http.put(`/api/v1/targets/${created.id}`).set(p.auth()).send({ config: { ...config, password: '********', port: 2222 } }).expect(200);
    const after = (await p.db.query('SELECT encrypted_config FROM deployment_targets WHERE id = $1', [created.id])).rows[0];
    expect(after.encrypted_config).not.toBeNull();
    const shown = (await p.http.get(`/api/v1/targets/${created.id}`).set(p.auth()).expect(200)).body;
    expect(JSON.stringify(shown)).not.toContain('s3cret-pass');
    expect(shown).not.toHaveProperty('encrypted_config');
  });

  it('POST /targets/{id}/test runs the validate step without deploying and records the result', async () => {
    const good = await post(p, '/api/v1/targets', { name: unique('t'), type: 'File', config: { cert_path: '/etc/ssl/nonexistent/c.pem', validate_command: 'openssl version' } });
    const ok = (await p.http.post(`/api/v1/targets/${good.id}/test`).set(p.auth()).expect(200)).body;
    expect(ok).toMatchObject({ target_id: good.id, status: 'success', message: expect.stringContaining('openssl version succeeded') });
    const bad = await post(p, '/api/v1/targets', { name: unique('t'), type: 'File', config: { cert_path: '/etc/ssl/nonexistent/c.pem', validate_command: 'false' } });
    const failed = (await p.http.post(`/api/v1/targets/${bad.id}/test`).set(p.auth()).expect(200)).body;
    expect(failed).toMatchObject({ status: 'failed', message: 'false: exited with status 1' });
    const row = (await p.db.query('SELECT test_status, last_tested_at FROM deployment_targets WHERE id = $1', [bad.id])).rows[0];
    expect(row.test_status).toBe('failed');
    expect(row.last_tested_at).not.toBeNull();
    const unconfigured = await post(p, '/api/v1/targets', { name: unique('t'), type: 'NGINX' });
    expect((await p.http.post(`/api/v1/targets/${unconfigured.id}/test`).set(p.auth()).expect(200)).body)
      .toMatchObject({ status: 'failed', message: 'cert_path: is required' });
    await p.http.post('/api/v1/targets/target-missing/test').set(p.auth()).expect(404);
  });

  it('deploy: 409 before the first issuance, 409 for a disabled or retired target, 400 for an unmapped one', async () => {
    const target = await post(p, '/api/v1/targets', { name: unique('t'), type: 'File', config: { cert_path: '/etc/ssl/nonexistent/c.pem' } });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    const notIssued = await p.http.post(`/api/v1/certificates/${cert.id}/deploy`).set(p.auth()).send({}).expect(409);
    expect(notIssued.body.code).toBe('CERTIFICATE_NOT_ISSUED');
    await p.http.post('/api/v1/certificates/mc-missing/deploy').set(p.auth()).send({}).expect(404);

    // Issue with the target disabled, so nothing is deployed yet.
    await p.http.put(`/api/v1/targets/${target.id}`).set(p.auth()).send({ enabled: false }).expect(200);
    const renewal = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(renewal.body.job_id, ['Completed']);
    const disabled = await p.http.post(`/api/v1/certificates/${cert.id}/deploy`).set(p.auth()).send({ target_ids: [target.id] }).expect(409);
    expect(disabled.body.code).toBe('TARGET_DISABLED');
    expect((await p.http.post(`/api/v1/certificates/${cert.id}/deploy`).set(p.auth()).send({}).expect(409)).body.code).toBe('NO_DEPLOYABLE_TARGETS');

    await p.http.put(`/api/v1/targets/${target.id}`).set(p.auth()).send({ enabled: true }).expect(200);
    await p.db.query(`UPDATE deployment_targets SET retired_at = now(), retired_reason = 'decommissioned' WHERE id = $1`, [target.id]);
    const retired = await p.http.post(`/api/v1/certificates/${cert.id}/deploy`).set(p.auth()).send({ target_ids: [target.id] }).expect(409);
    expect(retired.body.code).toBe('TARGET_RETIRED');

    const other = await post(p, '/api/v1/targets', { name: unique('t'), type: 'File' });
    const unmapped = await p.http.post(`/api/v1/certificates/${cert.id}/deploy`).set(p.auth()).send({ target_ids: [other.id] }).expect(400);
    expect(unmapped.body.details[0].field).toBe('target_ids');
    const jobs = await p.db.query(`SELECT count(*)::int AS n FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`, [cert.id]);
    expect(jobs.rows[0].n).toBe(0);
  });

  it('an issuance fans out to every agentless target of the certificate (one batch queue job) and each row completes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deploy-fanout-'));
    try {
      const targets = [];
      for (const n of [1, 2, 3]) {
        targets.push(await post(p, '/api/v1/targets', {
          name: unique(`files-${n}`), type: 'File', config: { cert_path: join(dir, `${n}.crt`), key_path: join(dir, `${n}.key`) },
        }));
      }
      const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: targets.map((t) => t.id) }));
      const renewal = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
      await p.waitForJob(renewal.body.job_id, ['Completed']);
      const rows = (await p.db.query(`SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment' ORDER BY target_id`, [cert.id])).rows;
      expect(rows).toHaveLength(3);
      for (const row of rows) expect(await p.waitForJob(row.id, ['Completed', 'Failed'])).toMatchObject({ status: 'Completed' });
      const leaf = (await p.db.query(`SELECT pem_chain FROM certificate_versions WHERE certificate_id = $1`, [cert.id])).rows[0].pem_chain as string;
      for (const n of [1, 2, 3]) expect(leaf.startsWith(readFileSync(join(dir, `${n}.crt`), 'utf8').trim().split('-----END CERTIFICATE-----')[0]!)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('agents report deployment results with the same fields, and they count in the deploy counters', async () => {
    const agent = await post(p, '/api/v1/agents', { name: unique('host') });
    const key = agent.api_key as string;
    const target = await post(p, '/api/v1/targets', { name: unique('apache'), type: 'Apache', agent_id: agent.id });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    const jobIds = ['job-agent-skip', 'job-agent-rollback'];
    for (const id of jobIds) {
      await p.db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, agent_id, status) VALUES ($1, 'Deployment', $2, $3, $4, 'Running')`,
        [id, cert.id, target.id, agent.id]);
    }
    const report = (id: string, body: object) => p.http.post(`/api/v1/agents/${agent.id}/jobs/${id}/status`).set(p.auth(key)).send(body);
    await report(jobIds[0]!, { status: 'Completed', skipped_as_idempotent: true, verification_status: 'skipped' }).expect(200);
    await report(jobIds[1]!, {
      status: 'Failed', error: 'apachectl graceful: exit 1', failed_stage: 'reload', rollback: 'restored', backup_paths: ['/etc/apache2/tls/c.pem.certctl-bak.1'],
    }).expect(200);
    await report(jobIds[1]!, { status: 'Failed', failed_stage: 'sideways' }).expect(400);

    const rows = (await p.db.query('SELECT id, status, deployment_result, verification_status FROM jobs WHERE id = ANY($1) ORDER BY id', [jobIds])).rows;
    expect(rows[0]).toMatchObject({ status: 'Failed', deployment_result: { reported_by: 'agent', failed_stage: 'reload', rollback: 'restored', rolled_back: true } });
    expect(rows[1]).toMatchObject({ status: 'Completed', verification_status: 'skipped', deployment_result: { outcome: 'idempotent_skip' } });

    // The agent's own post-deploy verification, recorded with POST /jobs/{id}/verify (its own jobs only).
    const fingerprint = 'ab'.repeat(32);
    const verified = await p.http.post(`/api/v1/jobs/${jobIds[0]}/verify`).set(p.auth(key))
      .send({ verified: true, target_id: target.id, expected_fingerprint: fingerprint, actual_fingerprint: fingerprint }).expect(200);
    expect(verified.body).toMatchObject({ verification_status: 'success', verification_fingerprint: fingerprint });
    expect(verified.body).not.toHaveProperty('verification_error');
    const mismatch = await p.http.post(`/api/v1/jobs/${jobIds[1]}/verify`).set(p.auth(key)).send({ verified: false, error: 'served cd…' }).expect(200);
    expect(mismatch.body).toMatchObject({ verification_status: 'failed', verification_error: 'served cd…' });
    const stranger = await post(p, '/api/v1/agents', { name: unique('other') });
    await p.http.post(`/api/v1/jobs/${jobIds[0]}/verify`).set(p.auth(stranger.api_key as string)).send({ verified: true }).expect(404);
    await p.http.post(`/api/v1/jobs/${jobIds[0]}/verify`).set(p.auth()).send({ verified: 'yes' }).expect(400);

    const text = (await p.http.get('/api/v1/metrics/prometheus').set(p.auth()).expect(200)).text;
    expect(text).toContain('certctl_deploy_attempts_total{target_type="Apache",result="success"} 1');
    expect(text).toContain('certctl_deploy_attempts_total{target_type="Apache",result="failure"} 1');
    expect(text).toContain('certctl_deploy_idempotent_skip_total{target_type="Apache"} 1');
    expect(text).toContain('certctl_deploy_reload_failures_total{target_type="Apache"} 1');
    expect(text).toContain('certctl_deploy_rollback_total{target_type="Apache",outcome="restored"} 1');
  });
});
