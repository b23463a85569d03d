import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';

const ORCHESTRATOR = 'dist/apps/orchestrator/src/main.js';

/**
 * SIGKILL the orchestrator (a real child process, from the build) while issuance jobs run, start it again:
 * every job completes, once, with one version each.
 */
describe('orchestrator killed mid-job', () => {
  let api: ApiHarness;
  let child: ChildProcess | undefined;

  const startOrchestrator = () => {
    const proc = spawn(process.execPath, [ORCHESTRATOR], {
      env: {
        ...process.env,
        CERTCTL_ORCHESTRATOR_PORT: '0',
        CERTCTL_QUEUE_LOCK_DURATION: '2s',
        CERTCTL_QUEUE_STALLED_INTERVAL: '1s',
        CERTCTL_RENEWAL_CONCURRENCY: '3',
        CERTCTL_SCHEDULER_RECONCILE_INTERVAL: '1h',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (d: Buffer) => process.stderr.write(`[orchestrator] ${d.toString()}`));
    return proc;
  };

  beforeAll(async () => {
    if (!existsSync(ORCHESTRATOR)) throw new Error(`${ORCHESTRATOR} is missing: npm test builds it first (pretest)`);
    api = await startApi({ CERTCTL_KEYGEN_MODE: 'server' });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await api?.close();
  });

  it('completes every job exactly once after a SIGKILL and a restart', async () => {
    const inv = await createInventory(api);
    // RSA 4096 keys take long enough to generate that the kill lands while jobs are running.
    const slow = await post(api, '/api/v1/profiles', { name: unique('rsa4096'), allowed_key_algorithms: [{ algorithm: 'RSA', min_size: 4096 }] });
    const jobIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const cert = await post(api, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: slow.id }));
      jobIds.push((await api.http.post(`/api/v1/certificates/${cert.id}/renew`).set(api.auth()).send({}).expect(202)).body.job_id);
    }
    const count = async (status: string) =>
      (await api.db.query(`SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status = $2`, [jobIds, status])).rows[0].n as number;
    const waitUntil = async (what: () => Promise<boolean>, timeoutMs: number, label: string) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (await what()) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect.fail(`timed out waiting for ${label}`);
    };

    child = startOrchestrator();
    await waitUntil(async () => (await count('Completed')) >= 2 && (await count('Running')) >= 1, 60_000, 'jobs to be running');
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const runningAtKill = await count('Running');
    expect(runningAtKill).toBeGreaterThanOrEqual(1);

    child = startOrchestrator();
    await waitUntil(async () => (await count('Completed')) === jobIds.length, 90_000, 'every job to complete');
    const versions = await api.db.query(`SELECT job_id, count(*)::int AS n FROM certificate_versions WHERE job_id = ANY($1) GROUP BY job_id`, [jobIds]);
    expect(versions.rows).toHaveLength(jobIds.length);
    expect(versions.rows.every((r) => r.n === 1)).toBe(true);
    const keys = await api.db.query(`SELECT DISTINCT key_size FROM certificate_versions WHERE job_id = ANY($1)`, [jobIds]);
    expect(keys.rows).toEqual([{ key_size: 4096 }]);
  }, 180_000);
});
