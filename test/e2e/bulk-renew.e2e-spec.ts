import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateBody, createInventory, Inventory, keyWithRole, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

describe('POST /api/v1/certificates/bulk-renew', () => {
  let p: PlatformHarness;
  let operator: string;

  beforeAll(async () => {
    p = await startPlatform();
    operator = await keyWithRole(p, 'operator');
  });
  afterAll(async () => p?.close());

  const bulkRenew = (body: object, key = operator) => p.http.post('/api/v1/certificates/bulk-renew').set(p.auth(key)).send(body);

  it('renews every certificate of the issuer through the pipeline; archived and already-renewing ones are skipped; each job is audited', async () => {
    const inv: Inventory = await createInventory(p);
    const first = await post(p, '/api/v1/certificates', certificateBody(inv));
    const second = await post(p, '/api/v1/certificates', certificateBody(inv));
    const archived = await post(p, '/api/v1/certificates', certificateBody(inv));
    await p.http.delete(`/api/v1/certificates/${archived.id}`).set(p.auth()).expect(204);
    const gated = await post(p, '/api/v1/profiles', { name: unique('gated'), requires_approval: true });
    const held = await post(p, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: gated.id }));
    const open = await p.http.post(`/api/v1/certificates/${held.id}/renew`).set(p.auth()).send({}).expect(202);
    expect(open.body.job_status).toBe('AwaitingApproval');

    const res = await bulkRenew({ issuer_id: inv.issuerId });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ total_matched: 4, total_enqueued: 2, total_skipped: 2, total_failed: 0, errors: [] });
    const jobs = res.body.enqueued_jobs as Array<{ certificate_id: string; job_id: string; job_status: string }>;
    expect(jobs.map((j) => j.certificate_id).sort()).toEqual([first.id, second.id].sort());
    expect(jobs.every((j) => j.job_status === 'Pending')).toBe(true);

    for (const job of jobs) {
      const done = await p.waitForJob(job.job_id, ['Completed', 'Failed']);
      expect(done).toMatchObject({ status: 'Completed', type: 'Issuance', certificate_id: job.certificate_id, requested_by: expect.stringMatching(/^operator-/) });
      const versions = await p.db.query('SELECT count(*)::int AS n FROM certificate_versions WHERE job_id = $1', [job.job_id]);
      expect(versions.rows[0].n).toBe(1);
    }
    const untouched = await p.db.query(
      `SELECT certificate_id, count(*)::int AS n FROM jobs WHERE certificate_id = ANY($1) GROUP BY certificate_id`, [[archived.id, held.id]],
    );
    expect(untouched.rows).toEqual([{ certificate_id: held.id, n: 1 }]); // only the single renew's AwaitingApproval job

    const audit = await p.db.query(
      `SELECT resource_id, actor, details FROM audit_events WHERE action = 'renewal_triggered' AND resource_id = ANY($1) ORDER BY resource_id`,
      [[first.id, second.id]],
    );
    expect(audit.rows).toHaveLength(2);
    for (const row of audit.rows) {
      expect(row.actor).toMatch(/^operator-/);
      expect(row.details).toMatchObject({ bulk: true, job_id: jobs.find((j) => j.certificate_id === row.resource_id)!.job_id });
    }
    const chain = await p.db.query('SELECT count(*)::int AS broken FROM audit_events_verify_chain() WHERE broken_seq IS NOT NULL');
    expect(chain.rows[0].broken).toBe(0);

    // Asked again while nothing is open any more: renews again (Renewal now), as a single renew would.
    const again = await bulkRenew({ certificate_ids: [first.id] }).expect(200);
    expect(again.body).toMatchObject({ total_matched: 1, total_enqueued: 1 });
    expect((await p.waitForJob(again.body.enqueued_jobs[0].job_id, ['Completed', 'Failed'])).type).toBe('Renewal');
  });

  it('holds gated certificates for approval, reports unknown certificate ids, and skips a certificate whose job is still open', async () => {
    const inv = await createInventory(p);
    const gated = await post(p, '/api/v1/profiles', { name: unique('gated'), requires_approval: true });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: gated.id }));
    const res = await bulkRenew({ certificate_ids: [cert.id, 'mc-does-not-exist'] }).expect(200);
    expect(res.body).toMatchObject({
      total_matched: 1, total_enqueued: 1, total_skipped: 0, total_failed: 1,
      enqueued_jobs: [{ certificate_id: cert.id, job_status: 'AwaitingApproval' }],
      errors: [{ certificate_id: 'mc-does-not-exist', error: expect.stringContaining('not found') }],
    });
    // The gate holds it: nothing runs it until someone else approves.
    await new Promise((r) => setTimeout(r, 500));
    const jobId = res.body.enqueued_jobs[0].job_id as string;
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows[0].status).toBe('AwaitingApproval');
    const repeated = await bulkRenew({ certificate_ids: [cert.id] }).expect(200);
    expect(repeated.body).toMatchObject({ total_matched: 1, total_enqueued: 0, total_skipped: 1, enqueued_jobs: [] });
    await p.http.post(`/api/v1/jobs/${jobId}/approve`).set(p.auth()).send({}).expect(200);
    expect((await p.waitForJob(jobId, ['Completed', 'Failed'])).status).toBe('Completed');
  });

  it('matches by agent, team, owner and profile (all given criteria at once)', async () => {
    const inv = await createInventory(p);
    const profile = await post(p, '/api/v1/profiles', { name: unique('plain') });
    const agent = await post(p, '/api/v1/agents', { name: unique('web') });
    const target = await post(p, '/api/v1/targets', { name: unique('nginx'), type: 'NGINX', agent_id: agent.id });
    const onAgent = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id], certificate_profile_id: profile.id }));
    await post(p, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: profile.id })); // same profile, not on the agent
    await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] })); // on the agent, other profile

    const res = await bulkRenew({ agent_id: agent.id, team_id: inv.teamId, owner_id: inv.ownerId, profile_id: profile.id }).expect(200);
    expect(res.body).toMatchObject({ total_matched: 1, total_enqueued: 1, enqueued_jobs: [{ certificate_id: onAgent.id, job_status: 'Pending' }] });
    // Agent keygen: the job waits for the agent's CSR, as after a single renew.
    expect((await p.waitForJob(res.body.enqueued_jobs[0].job_id, ['AwaitingCSR', 'Completed', 'Failed'])).status).toBe('AwaitingCSR');
  });

  it('refuses bad criteria with a 400 naming the field, unknown references, a match above the cap, and viewers', async () => {
    const inv = await createInventory(p);
    const none = await bulkRenew({}).expect(400);
    expect(none.body.details[0].field).toBe('criteria');
    const missing = await bulkRenew({ issuer_id: 'iss-does-not-exist' }).expect(400);
    expect(missing.body).toMatchObject({ code: 'REFERENCE_NOT_FOUND', details: [{ field: 'issuer_id' }] });
    expect((await bulkRenew({ owner_id: 'not an id!' }).expect(400)).body.details[0].field).toBe('owner_id');
    expect((await bulkRenew({ certificate_ids: 'mc-1' }).expect(400)).body.details[0].field).toBe('certificate_ids');
    expect((await bulkRenew({ certificate_ids: Array.from({ length: 5001 }, (_, i) => `mc-${i}`) }).expect(400)).body.details[0].field).toBe('certificate_ids');
    expect((await bulkRenew({ issuer_id: inv.issuerId, force: true }).expect(400)).body.details[0].field).toBe('force');
    await bulkRenew({ issuer_id: inv.issuerId }, await keyWithRole(p, 'viewer')).expect(403);

    // More matches than the cap: refused whole, nothing opened.
    await p.db.query(
      `INSERT INTO managed_certificates (id, name, common_name, owner_id, team_id, issuer_id, renewal_policy_id, tags)
       SELECT 'mc-cap-' || i, 'cap-' || i || '.example.com', 'cap-' || i || '.example.com', $1, $2, $3, 'rp-default', '{}'
         FROM generate_series(1, 5001) AS i`,
      [inv.ownerId, inv.teamId, inv.issuerId],
    );
    const tooMany = await bulkRenew({ owner_id: inv.ownerId }).expect(400);
    expect(tooMany.body.details[0]).toMatchObject({ field: 'criteria', message: expect.stringContaining('5000') });
    expect((await p.db.query('SELECT count(*)::int AS n FROM jobs j JOIN managed_certificates c ON c.id = j.certificate_id WHERE c.owner_id = $1', [inv.ownerId])).rows[0].n).toBe(0);
  });
});
