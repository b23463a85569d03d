import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobTimeoutsService } from '../../apps/orchestrator/src/modules/scheduler/job-timeouts.service';
import { certificateBody, createInventory, Inventory, keyWithRole, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * Four eyes through the approval queue (`/api/v1/approvals`), with two different keys: a requester and an
 * approver. Issuance of an approval-gated profile waits; the requester cannot decide (403); another key's
 * approval issues, a rejection ends the job with the note, an undecided request expires in the orchestrator's
 * sweep; an edit of a profile with `edits_require_approval` is held (202) and applied only on approval.
 */
describe('four-eyes approvals', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let requester: string;
  let approver: string;

  beforeAll(async () => {
    p = await startPlatform({ CERTCTL_APPROVAL_TTL: '1h' });
    inv = await createInventory(p);
    requester = await keyWithRole(p, 'operator');
    approver = await keyWithRole(p, 'operator');
  });
  afterAll(async () => p?.close());

  const renew = (certId: string, key: string) => p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth(key)).send({});
  const approvalOfJob = async (jobId: string) => {
    const list = await p.http.get('/api/v1/approvals').query({ state: 'pending', approval_kind: 'cert_issuance' }).set(p.auth()).expect(200);
    return (list.body.data as Array<Record<string, any>>).find((a) => a.job_id === jobId);
  };
  async function gatedCertificate(): Promise<string> {
    const profile = await post(p, '/api/v1/profiles', { name: unique('gated'), requires_approval: true });
    return (await post(p, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: profile.id }))).id as string;
  }

  it('holds issuance for another approver: self-approval is 403, the other key\'s approval issues', async () => {
    const certId = await gatedCertificate();
    const res = await renew(certId, requester).expect(202);
    expect(res.body.job_status).toBe('AwaitingApproval');
    const request = await approvalOfJob(res.body.job_id);
    expect(request).toMatchObject({ approval_kind: 'cert_issuance', certificate_id: certId, state: 'pending', requested_by: expect.stringMatching(/^operator-/) });
    expect(Date.parse(request!.expires_at) - Date.parse(request!.created_at)).toBe(3_600_000);
    expect((await p.http.get(`/api/v1/approvals/${request!.id}`).set(p.auth(approver)).expect(200)).body.id).toBe(request!.id);

    for (const decision of ['approve', 'reject']) {
      const self = await p.http.post(`/api/v1/approvals/${request!.id}/${decision}`).set(p.auth(requester)).send({}).expect(403);
      expect(self.body.code).toBe('SELF_APPROVAL');
    }
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [res.body.job_id])).rows[0].status).toBe('AwaitingApproval');

    const approved = await p.http.post(`/api/v1/approvals/${request!.id}/approve`).set(p.auth(approver)).send({ note: 'CHG-1001' }).expect(200);
    expect(approved.body).toMatchObject({ state: 'approved', decided_by: expect.stringMatching(/^operator-/), decision_note: 'CHG-1001', decided_at: expect.any(String) });
    expect(approved.body.decided_by).not.toBe(request!.requested_by);
    const done = await p.waitForJob(res.body.job_id, ['Completed', 'Failed']);
    expect(done.status, done.last_error).toBe('Completed');
    expect((await p.http.get(`/api/v1/certificates/${certId}`).set(p.auth())).body.status).toBe('Active');
    // Decided once: a second decision is a conflict.
    expect((await p.http.post(`/api/v1/approvals/${request!.id}/reject`).set(p.auth(approver)).send({})).status).toBe(409);
  });

  it('a rejection ends the job with the approver\'s note; unknown ids are 404 and a bad filter is 400', async () => {
    const certId = await gatedCertificate();
    const res = await renew(certId, requester).expect(202);
    const request = await approvalOfJob(res.body.job_id);
    const rejected = await p.http.post(`/api/v1/approvals/${request!.id}/reject`).set(p.auth(approver)).send({ note: 'not in the freeze window' }).expect(200);
    expect(rejected.body).toMatchObject({ state: 'rejected', decision_note: 'not in the freeze window' });
    const job = (await p.db.query('SELECT status, last_error FROM jobs WHERE id = $1', [res.body.job_id])).rows[0];
    expect(job.status).toBe('Cancelled');
    expect(job.last_error).toContain('not in the freeze window');
    expect((await p.http.get(`/api/v1/certificates/${certId}`).set(p.auth())).body.status).toBe('Pending');

    expect((await p.http.get('/api/v1/approvals/apr-nope').set(p.auth())).status).toBe(404);
    expect((await p.http.post('/api/v1/approvals/apr-nope/approve').set(p.auth(approver)).send({})).status).toBe(404);
    const bad = await p.http.get('/api/v1/approvals').query({ state: 'maybe' }).set(p.auth()).expect(400);
    expect(bad.body.details[0].field).toBe('state');
    const tooLong = await p.http.post(`/api/v1/approvals/${request!.id}/approve`).set(p.auth(approver)).send({ note: 'x'.repeat(2001) }).expect(400);
    expect(tooLong.body.details[0].field).toBe('note');
    // A viewer may read the queue but not decide.
    const viewer = await keyWithRole(p, 'viewer');
    expect((await p.http.get('/api/v1/approvals').set(p.auth(viewer))).status).toBe(200);
    expect((await p.http.post(`/api/v1/approvals/${request!.id}/approve`).set(p.auth(viewer)).send({})).status).toBe(403);
  });

  it('expires a request nobody decided in time: the sweep fails its job with that reason, and it can no longer be approved', async () => {
    const certId = await gatedCertificate();
    const res = await renew(certId, requester).expect(202);
    const request = await approvalOfJob(res.body.job_id);
    const fresh = await gatedCertificate();
    const freshJob = (await renew(fresh, requester).expect(202)).body.job_id;
    await p.db.query(`UPDATE issuance_approval_requests SET created_at = now() - interval '61 minutes' WHERE id = $1`, [request!.id]);

    // Past its deadline, before the sweep: refused, not decided.
    expect((await p.http.post(`/api/v1/approvals/${request!.id}/approve`).set(p.auth(approver)).send({})).body.code).toBe('APPROVAL_EXPIRED');
    expect((await p.http.post(`/api/v1/jobs/${res.body.job_id}/approve`).set(p.auth(approver)).send({})).body.code).toBe('APPROVAL_EXPIRED');
    const swept = await p.orchestrator.get(JobTimeoutsService).sweep();
    expect(swept.approvalsExpired).toBe(1);
    const after = (await p.http.get(`/api/v1/approvals/${request!.id}`).set(p.auth()).expect(200)).body;
    expect(after).toMatchObject({ state: 'expired', decided_by: 'system', decision_note: expect.stringContaining('no decision within 1h') });
    const job = (await p.db.query('SELECT status, last_error FROM jobs WHERE id = $1', [res.body.job_id])).rows[0];
    expect(job).toMatchObject({ status: 'Failed', last_error: expect.stringContaining('approval expired') });
    expect((await p.http.get(`/api/v1/certificates/${certId}`).set(p.auth())).body.status).toBe('Pending');
    const { rows: audit } = await p.db.query(`SELECT actor FROM audit_events WHERE action = 'approval_expired' AND resource_id = $1`, [request!.id]);
    expect(audit).toEqual([{ actor: 'scheduler' }]);
    // The one still inside its window is untouched.
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [freshJob])).rows[0].status).toBe('AwaitingApproval');
    expect((await p.orchestrator.get(JobTimeoutsService).sweep()).approvalsExpired).toBe(0);
  });

  it('holds an edit of a profile whose edits need approval (202) and applies it only when someone else approves', async () => {
    const profile = await post(p, '/api/v1/profiles', { name: unique('guarded'), max_ttl_seconds: 86_400, edits_require_approval: true });
    const held = await p.http.put(`/api/v1/profiles/${profile.id}`).set(p.auth(requester)).send({ max_ttl_seconds: 3_600, must_staple: true }).expect(202);
    expect(held.body).toMatchObject({ approval_kind: 'profile_edit', profile_id: profile.id, state: 'pending', payload: { max_ttl_seconds: 3_600, must_staple: true } });
    expect((await p.http.get(`/api/v1/profiles/${profile.id}`).set(p.auth())).body).toMatchObject({ max_ttl_seconds: 86_400, must_staple: false });
    // A bad edit is refused at once (400 naming the field), never queued.
    const bad = await p.http.put(`/api/v1/profiles/${profile.id}`).set(p.auth(requester)).send({ allowed_ekus: ['nope'] }).expect(400);
    expect(bad.body.details[0].field).toBe('allowed_ekus');
    const badType = await p.http.put(`/api/v1/profiles/${profile.id}`).set(p.auth(requester)).send({ max_ttl_seconds: -5 }).expect(400);
    expect(badType.body.details[0].field).toBe('max_ttl_seconds');
    expect((await p.http.put('/api/v1/profiles/prof-nope').set(p.auth(requester)).send({ max_ttl_seconds: 60 })).status).toBe(404);
    expect((await p.db.query(`SELECT count(*)::int AS n FROM issuance_approval_requests WHERE profile_id = $1`, [profile.id])).rows[0].n).toBe(1);

    expect((await p.http.post(`/api/v1/approvals/${held.body.id}/approve`).set(p.auth(requester)).send({})).status).toBe(403);
    const approved = await p.http.post(`/api/v1/approvals/${held.body.id}/approve`).set(p.auth(approver)).send({ note: 'shorter is safer' }).expect(200);
    expect(approved.body.state).toBe('approved');
    expect((await p.http.get(`/api/v1/profiles/${profile.id}`).set(p.auth())).body).toMatchObject({ max_ttl_seconds: 3_600, must_staple: true, edits_require_approval: true });
    const { rows: audit } = await p.db.query(`SELECT details FROM audit_events WHERE action = 'profile_updated' AND resource_id = $1`, [profile.id]);
    expect(audit).toEqual([{ details: expect.objectContaining({ approval_id: held.body.id, requested_by: held.body.requested_by }) }]);

    // Turning the gate off is itself an edit that waits; a rejected edit leaves the profile as it was.
    const off = await p.http.put(`/api/v1/profiles/${profile.id}`).set(p.auth(approver)).send({ edits_require_approval: false }).expect(202);
    await p.http.post(`/api/v1/approvals/${off.body.id}/reject`).set(p.auth(requester)).send({ note: 'keep four eyes' }).expect(200);
    expect((await p.http.get(`/api/v1/profiles/${profile.id}`).set(p.auth())).body.edits_require_approval).toBe(true);

    // A profile without the gate is edited at once, as before.
    const plain = await post(p, '/api/v1/profiles', { name: unique('plain') });
    expect((await p.http.put(`/api/v1/profiles/${plain.id}`).set(p.auth(requester)).send({ max_ttl_seconds: 7_200 }).expect(200)).body.max_ttl_seconds).toBe(7_200);
  });
});
