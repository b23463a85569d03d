import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp } from '@certctl/observability';
import { ORCHESTRATOR_FEATURES } from '../../apps/orchestrator/src/orchestrator.features';
import { ApiHarness, startApi } from '../support/api-harness';
import { keyWithRole, post, unique } from '../support/fixtures';

/**
 * Issue 19 item 1: an operator's target config cannot run a command in the api, cannot run one outside the
 * administrator's allow-list anywhere, and a command that does run sees none of the server's secrets; answers and
 * audit rows carry its exit status, never its output.
 */
describe('target tests: config commands run only where deploys run, allow-listed, with a scrubbed environment', () => {
  let api: ApiHarness;
  let orchestrator: INestApplication | undefined;
  let operator: string;
  const dir = mkdtempSync(join(tmpdir(), 'target-test-trust-'));
  const script = join(dir, 'leak.sh');
  const seenEnv = join(dir, 'seen-env');

  beforeAll(async () => {
    // The api waits 3 s for a test's answer (the default is 45 s). The tests' allow-list (as an administrator would
    // set it) permits scripts under the temp directory, so the script below may run: what it can see is the point.
    api = await startApi({ CERTCTL_DEPLOY_TEST_TIMEOUT_SECONDS: '3', CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: '1h', CERTCTL_SCHEDULER_RECONCILE_INTERVAL: '1h' });
    operator = await keyWithRole(api, 'operator');
    // Writes its whole environment to a file and to stderr, then fails: on a leaky server the answer carries it.
    writeFileSync(script, `#!/bin/sh\nenv > '${seenEnv}'\nenv >&2\nexit 1\n`, { mode: 0o755 });
  });
  afterAll(async () => {
    await orchestrator?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const secrets = () => [api.adminKey, process.env.CERTCTL_CONFIG_ENCRYPTION_KEY!, process.env.CERTCTL_DATABASE_URL!, operator];

  it.each([
    ['validate_command', 'node -e "throw process.env.CERTCTL_API_KEY"'],
    ['validate_command', '/usr/bin/printenv CERTCTL_API_KEY'],
    ['reload_command', 'node -e "process.exitCode=1"'],
  ])('refuses %s %s at create and update: 400 naming the field and the setting', async (field, command) => {
    const created = await api.http.post('/api/v1/targets').set(api.auth(operator))
      .send({ name: unique('leak'), type: 'File', config: { cert_path: join(dir, 'c.pem'), [field]: command } });
    expect(created.status, JSON.stringify(created.body)).toBe(400);
    expect(created.body.details).toEqual([{ field: `config.${field}`, message: expect.stringContaining('CERTCTL_DEPLOY_COMMAND_ALLOWLIST') }]);

    const target = await post(api, '/api/v1/targets', { name: unique('ok'), type: 'File', config: { cert_path: join(dir, 'c.pem') } }, operator);
    const updated = await api.http.put(`/api/v1/targets/${target.id}`).set(api.auth(operator)).send({ config: { cert_path: join(dir, 'c.pem'), [field]: command } });
    expect(updated.status).toBe(400);
    expect(updated.body.details[0]).toMatchObject({ field: `config.${field}`, message: expect.stringContaining('CERTCTL_DEPLOY_COMMAND_ALLOWLIST') });
  });

  it.each(['/etc/cron.d/x', '/root/.ssh/authorized_keys', '/etc/passwd'])('refuses a destination outside the allowed roots: %s', async (path) => {
    const res = await api.http.post('/api/v1/targets').set(api.auth(operator)).send({ name: unique('path'), type: 'File', config: { cert_path: path } });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field: 'config.cert_path', message: expect.stringContaining('CERTCTL_DEPLOY_ALLOWED_ROOTS') }]);
  });

  it('runs the test in the orchestrator, never in the api: the command sees PATH and LANG only, the answer and the audit row its exit status', async () => {
    const target = await post(api, '/api/v1/targets', { name: unique('env'), type: 'File', config: { cert_path: join(dir, 'c.pem'), validate_command: script } }, operator);

    // No orchestrator yet: the api answers after its timeout, and nothing ran (the api runs no config command).
    const waited = (await api.http.post(`/api/v1/targets/${target.id}/test`).set(api.auth(operator)).expect(200)).body;
    expect(waited).toMatchObject({ target_id: target.id, status: 'failed', message: expect.stringMatching(/not tested: no orchestrator took the test within 3 s/) });
    expect(existsSync(seenEnv)).toBe(false);

    orchestrator = await createWorkerApp('orchestrator', ORCHESTRATOR_FEATURES);
    await orchestrator.init();
    const tested = (await api.http.post(`/api/v1/targets/${target.id}/test`).set(api.auth(operator)).expect(200)).body;
    expect(tested).toMatchObject({ target_id: target.id, status: 'failed', message: `${script}: exited with status 1` });

    // The command ran (in the orchestrator) with a scrubbed environment, although this process holds every secret.
    const env = readFileSync(seenEnv, 'utf8');
    for (const secret of secrets()) expect(env).not.toContain(secret);
    expect(env).not.toMatch(/^CERTCTL_/m);
    expect(env.split('\n').filter(Boolean).map((l) => l.split('=')[0]).filter((n) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(n!)).sort()).toEqual(['LANG', 'PATH']);

    // Neither the answers nor the audit trail nor the target row carry any of them, nor the command's output.
    await api.flushAudit();
    const audit = (await api.db.query(`SELECT details FROM audit_events WHERE action = 'test_target' AND resource_id = $1`, [target.id])).rows;
    expect(audit).toHaveLength(2);
    const recorded = JSON.stringify([waited, tested, audit]);
    for (const secret of secrets()) expect(recorded).not.toContain(secret);
    expect(recorded).not.toMatch(/PATH=|LANG=/);
    expect((await api.db.query('SELECT test_status FROM deployment_targets WHERE id = $1', [target.id])).rows[0].test_status).toBe('failed');
  });
});
