import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, generateKeyPair, KeySpec } from '@certctl/pki';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const P256: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };
const WINDOW_S = 6;

/**
 * Agent keygen and the per-CA budget (api and orchestrator in this process, Local CA, 1 issuance per 6 s): a job
 * waiting for its agent's CSR spends nothing; the CSR, once it arrives, is signed within the budget (after the
 * window of the issuance that spent it), and the waiting does not count as an attempt.
 */
describe('per-CA budget with agent-made keys', () => {
  let p: PlatformHarness;
  let inv: Inventory;

  beforeAll(async () => {
    p = await startPlatform({ CERTCTL_KEYGEN_MODE: 'agent', CERTCTL_ISSUANCE_RETRY_BASE_DELAY: '1s' });
    inv = await createInventory(p);
  });
  afterAll(async () => p?.close());

  const spends = async (issuerId: string) => (await p.db.query(
    `SELECT (extract(epoch FROM spent_at) * 1000)::bigint::float8 AS at, member FROM issuer_budget_spends WHERE issuer_id = $1 ORDER BY spent_at`, [issuerId],
  )).rows as Array<{ at: number; member: string }>;

  it('spends budget only when the CSR is there to sign, and signs it once the budget frees', async () => {
    const issuer = await post(p, '/api/v1/issuers', {
      name: unique('budget'), type: 'GenericCA', config: { rate_limits: [{ name: 'orders', limit: 1, window_seconds: WINDOW_S, per: 'account' }] },
    });
    const agent = await post(p, '/api/v1/agents', { name: unique('web') });
    const agentKey = agent.api_key as string;
    const target = await post(p, '/api/v1/targets', { name: unique('nginx'), type: 'NGINX', agent_id: agent.id });
    const agentCert = await post(p, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id }, { target_ids: [target.id] }));
    const agentJob = (await p.http.post(`/api/v1/certificates/${agentCert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id as string;
    await p.waitForJob(agentJob, ['AwaitingCSR']);
    expect(await spends(issuer.id)).toEqual([]);

    // A server-keyed certificate of the same issuer takes the only slot meanwhile.
    const serverCert = await post(p, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id }));
    const serverJob = (await p.http.post(`/api/v1/certificates/${serverCert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id as string;
    await p.waitForJob(serverJob, ['Completed']);
    const [first] = await spends(issuer.id);
    expect(first!.member).toBe(`${serverJob}:1`);

    const keys = await generateKeyPair(P256);
    const csrPem = await createCsr({ keys, keySpec: P256, commonName: agentCert.common_name, sans: agentCert.sans });
    await p.http.post(`/api/v1/agents/${agent.id}/csr`).set(p.auth(agentKey)).send({ csr_pem: csrPem, certificate_id: agentCert.id }).expect(202);
    const done = await p.waitForJob(agentJob, ['Completed', 'Failed'], 60_000);
    expect(done.status).toBe('Completed');
    expect(done.attempts).toBe(1);
    const all = await spends(issuer.id);
    expect(all.map((s) => s.member)).toEqual([`${serverJob}:1`, `${agentJob}:1`]);
    expect(all[1]!.at - all[0]!.at).toBeGreaterThanOrEqual(WINDOW_S * 1000);
    const stored = await p.db.query('SELECT csr_pem, encrypted_private_key FROM certificate_versions WHERE job_id = $1', [agentJob]);
    expect(stored.rows).toEqual([{ csr_pem: csrPem, encrypted_private_key: null }]);
  }, 90_000);

  it('a budget check that fails (its table unreadable) is a failed attempt retried with backoff, not a job left Running', async () => {
    const issuer = await post(p, '/api/v1/issuers', {
      name: unique('budget'), type: 'GenericCA', config: { rate_limits: [{ name: 'orders', limit: 5, window_seconds: 60, per: 'account' }] },
    });
    const cert = await post(p, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id }));
    await p.db.query('ALTER TABLE issuer_budget_spends RENAME TO issuer_budget_spends_away');
    try {
      const jobId = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id as string;
      const deadline = Date.now() + 20_000;
      let row: Record<string, any> | undefined;
      while (Date.now() < deadline) {
        row = (await p.db.query('SELECT status, attempts, last_error FROM jobs WHERE id = $1', [jobId])).rows[0];
        if (row?.status === 'Pending' && /issuer_budget_spends/.test(row.last_error ?? '')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(row).toMatchObject({ status: 'Pending', last_error: expect.stringContaining('issuer_budget_spends') });
      await p.db.query('ALTER TABLE issuer_budget_spends_away RENAME TO issuer_budget_spends');
      const done = await p.waitForJob(jobId, ['Completed', 'Failed'], 30_000);
      expect(done.status).toBe('Completed');
      expect((await spends(issuer.id)).map((s) => s.member)).toEqual([`${jobId}:${done.attempts}`]);
    } finally {
      await p.db.query('ALTER TABLE IF EXISTS issuer_budget_spends_away RENAME TO issuer_budget_spends');
    }
  }, 60_000);
});
