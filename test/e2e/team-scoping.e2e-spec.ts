import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Grant } from '../../apps/api/src/common/auth/visibility';
import { ApiHarness, startApi } from '../support/api-harness';
import { post, unique } from '../support/fixtures';
import { grantsIn, keyWithGrants, OPERATOR_PERMISSIONS } from '../support/scoped-grants';

/**
 * Issue 23, scoped grants: an operator of team A never sees team B's certificates, targets, jobs, notifications,
 * agents or audit rows; totals count only what it sees; B's rows by id are 404; creating or moving into team B is
 * 403 naming the field. The keys hold custom roles granted through the API within a team, an issuer or a profile
 * (test/support/scoped-grants.ts); the guard loads those grants.
 */
describe('team-scoped callers (roles granted within a scope)', () => {
  let api: ApiHarness;
  const keys: Record<'operatorA' | 'issuerScoped' | 'profileScoped' | 'nothing' | 'unrelated', string> = { operatorA: '', issuerScoped: '', profileScoped: '', nothing: '', unrelated: '' };
  const ids: Record<string, string> = {};

  const keyFor = (label: string, keyGrants: Grant[]) => keyWithGrants(api, label, keyGrants);

  const as = (key: string) => ({ get: (path: string) => api.http.get(path).set(api.auth(key)) });
  const idsOf = (body: { data: Array<{ id: string }> }) => body.data.map((row) => row.id).sort();

  beforeAll(async () => {
    api = await startApi();
    for (const team of ['A', 'B']) {
      ids[`team${team}`] = (await post(api, '/api/v1/teams', { name: unique(`team-${team}`) })).id;
      ids[`owner${team}`] = (await post(api, '/api/v1/owners', { name: unique('owner'), email: 'owner@example.com', team_id: ids[`team${team}`] })).id;
    }
    ids.issuer1 = (await post(api, '/api/v1/issuers', { name: unique('issuer1'), type: 'GenericCA' })).id;
    ids.issuer2 = (await post(api, '/api/v1/issuers', { name: unique('issuer2'), type: 'GenericCA' })).id;
    ids.profile = (await post(api, '/api/v1/profiles', { name: unique('profile') })).id;

    ids.agentA = (await post(api, '/api/v1/agents', { name: unique('agent-a') })).id;
    ids.agentB = (await post(api, '/api/v1/agents', { name: unique('agent-b') })).id;
    ids.targetA = (await post(api, '/api/v1/targets', { name: unique('tA'), type: 'File', team_id: ids.teamA, agent_id: ids.agentA })).id;
    ids.targetB = (await post(api, '/api/v1/targets', { name: unique('tB'), type: 'File', team_id: ids.teamB, agent_id: ids.agentB })).id;
    // No team: team A sees it only because one of its certificates deploys there.
    ids.targetShared = (await post(api, '/api/v1/targets', { name: unique('tShared'), type: 'File' })).id;

    const cert = (team: 'A' | 'B', issuer: string, extra: Record<string, unknown> = {}) => {
      const name = `${unique('svc')}.example.com`;
      return post(api, '/api/v1/certificates', {
        name, common_name: name, environment: 'prod', owner_id: ids[`owner${team}`], team_id: ids[`team${team}`], issuer_id: issuer, ...extra,
      }).then((c) => c.id as string);
    };
    ids.certA1 = await cert('A', ids.issuer1, { target_ids: [ids.targetA, ids.targetShared] });
    ids.certA2 = await cert('A', ids.issuer1);
    ids.certB1 = await cert('B', ids.issuer2, { target_ids: [ids.targetB] });
    ids.certB2 = await cert('B', ids.issuer1, { certificate_profile_id: ids.profile });

    for (const c of ['certA1', 'certB1']) {
      const renewed = await api.http.post(`/api/v1/certificates/${ids[c]}/renew`).set(api.auth()).send({}).expect(202);
      ids[`job${c.slice(4)}`] = renewed.body.job_id;
      const note = await post(api, '/api/v1/notifications', { type: 'ExpirationWarning', channel: 'Email', certificate_id: ids[c], recipient: 'ops@example.com', message: 'soon' });
      ids[`notification${c.slice(4)}`] = note.id;
    }
    await api.flushAudit();

    keys.operatorA = await keyFor('operator', grantsIn('team', ids.teamA!, OPERATOR_PERMISSIONS));
    keys.issuerScoped = await keyFor('viewer', grantsIn('issuer', ids.issuer2!, ['cert.read', 'target.read']));
    keys.profileScoped = await keyFor('viewer', grantsIn('profile', ids.profile!, ['cert.read']));
    // An operator of a team that owns nothing: its grants reach no rows, so every scoped list is empty.
    const emptyTeam = (await post(api, '/api/v1/teams', { name: unique('team-empty') })).id as string;
    keys.nothing = await keyFor('operator', grantsIn('team', emptyTeam, OPERATOR_PERMISSIONS));
    // Holds permissions, but none a list needs (only issuer.read): the guard refuses, naming the permission.
    keys.unrelated = await keyFor('issuer-reader', [{ permission: 'issuer.read', scope_type: 'global', scope_id: null }]);
  });
  afterAll(async () => api?.close());

  it('lists only team A certificates, with a total that counts only them (page and cursor modes)', async () => {
    const page = (await as(keys.operatorA).get('/api/v1/certificates?per_page=1').expect(200)).body;
    expect(page.total).toBe(2);
    expect(page.data).toHaveLength(1);
    const all = (await as(keys.operatorA).get('/api/v1/certificates').expect(200)).body;
    expect(idsOf(all)).toEqual([ids.certA1, ids.certA2].sort());
    const cursor = (await as(keys.operatorA).get('/api/v1/certificates?cursor=').expect(200)).body;
    expect(idsOf(cursor)).toEqual([ids.certA1, ids.certA2].sort());
    expect(cursor.total).toBe(2);
    // The admin key (no grants list: judged by role) still sees everything.
    expect((await api.http.get('/api/v1/certificates').set(api.auth()).expect(200)).body.total).toBe(4);
  });

  it("answers 404 for team B's certificate and everything under it, as for an unknown id", async () => {
    for (const path of ['', '/versions', '/deployments', '/renewal-info', '/export/pem']) {
      const res = await as(keys.operatorA).get(`/api/v1/certificates/${ids.certB1}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.body.code).toBe('CERTIFICATE_NOT_FOUND');
    }
    await as(keys.operatorA).get(`/api/v1/certificates/${ids.certA1}`).expect(200);
    const auth = api.auth(keys.operatorA);
    await api.http.put(`/api/v1/certificates/${ids.certB1}`).set(auth).send({ environment: 'dev' }).expect(404);
    await api.http.delete(`/api/v1/certificates/${ids.certB1}`).set(auth).expect(404);
    await api.http.post(`/api/v1/certificates/${ids.certB1}/renew`).set(auth).send({}).expect(404);
    await api.http.post(`/api/v1/certificates/${ids.certB1}/revoke`).set(auth).send({}).expect(404);
    await api.http.post(`/api/v1/certificates/${ids.certB1}/deploy`).set(auth).send({}).expect(404);
  });

  it('refuses to create a certificate in team B, or to move one there, with 403 naming team_id', async () => {
    const auth = api.auth(keys.operatorA);
    const name = `${unique('svc')}.example.com`;
    const body = { name, common_name: name, owner_id: ids.ownerB, team_id: ids.teamB, issuer_id: ids.issuer1 };
    const refused = await api.http.post('/api/v1/certificates').set(auth).send(body).expect(403);
    expect(refused.body.details).toEqual([expect.objectContaining({ field: 'team_id' })]);
    const created = await api.http.post('/api/v1/certificates').set(auth).send({ ...body, owner_id: ids.ownerA, team_id: ids.teamA }).expect(201);
    const moved = await api.http.put(`/api/v1/certificates/${created.body.id}`).set(auth).send({ team_id: ids.teamB }).expect(403);
    expect(moved.body.details).toEqual([expect.objectContaining({ field: 'team_id' })]);
    expect((await api.db.query('SELECT team_id FROM managed_certificates WHERE id = $1', [created.body.id])).rows[0].team_id).toBe(ids.teamA);
    // A target of team B cannot be mapped: it is reported as unknown, not revealed.
    const mapped = await api.http.put(`/api/v1/certificates/${created.body.id}`).set(auth).send({ target_ids: [ids.targetB] }).expect(400);
    expect(mapped.body.details).toEqual([expect.objectContaining({ field: 'target_ids' })]);
    await api.http.delete(`/api/v1/certificates/${created.body.id}`).set(api.auth()).expect(204);
  });

  it('bulk actions touch only visible certificates; the others are reported as not found', async () => {
    const res = await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth(keys.operatorA))
      .send({ certificate_ids: [ids.certA2, ids.certB2], owner_id: ids.ownerA }).expect(200);
    expect(res.body).toMatchObject({ total_matched: 1, total_failed: 1, errors: [{ certificate_id: ids.certB2 }] });
    expect((await api.db.query('SELECT owner_id FROM managed_certificates WHERE id = $1', [ids.certB2])).rows[0].owner_id).toBe(ids.ownerB);
    const intoB = await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth(keys.operatorA))
      .send({ certificate_ids: [ids.certA2], owner_id: ids.ownerA, team_id: ids.teamB }).expect(403);
    expect(intoB.body.details).toEqual([expect.objectContaining({ field: 'team_id' })]);
    const revoke = await api.http.post('/api/v1/certificates/bulk-revoke').set(api.auth(keys.operatorA))
      .send({ issuer_id: ids.issuer2, reason: 'superseded' }).expect(200);
    expect(revoke.body).toMatchObject({ total_matched: 0, total_revoked: 0 });
    expect((await api.db.query('SELECT status FROM managed_certificates WHERE id = $1', [ids.certB1])).rows[0].status).not.toBe('Revoked');
  });

  it('lists team A targets and those its certificates deploy to; B is 404; creating or moving into B is 403', async () => {
    const list = (await as(keys.operatorA).get('/api/v1/targets').expect(200)).body;
    expect(idsOf(list)).toEqual([ids.targetA, ids.targetShared].sort());
    expect(list.total).toBe(2);
    expect(list.data.find((t: { id: string }) => t.id === ids.targetA).team_id).toBe(ids.teamA);
    await as(keys.operatorA).get(`/api/v1/targets/${ids.targetB}`).expect(404);
    await as(keys.operatorA).get(`/api/v1/targets/${ids.targetShared}`).expect(200);
    const auth = api.auth(keys.operatorA);
    await api.http.put(`/api/v1/targets/${ids.targetB}`).set(auth).send({ enabled: false }).expect(404);
    await api.http.delete(`/api/v1/targets/${ids.targetB}`).set(auth).expect(404);
    // Visible through a mapping, but owned by no team: not the operator's to change.
    await api.http.put(`/api/v1/targets/${ids.targetShared}`).set(auth).send({ enabled: false }).expect(403);
    for (const body of [{ team_id: ids.teamB }, {}]) {
      const res = await api.http.post('/api/v1/targets').set(auth).send({ name: unique('t'), type: 'File', ...body }).expect(403);
      expect(res.body.details).toEqual([expect.objectContaining({ field: 'team_id' })]);
    }
    const mine = await post(api, '/api/v1/targets', { name: unique('t'), type: 'File', team_id: ids.teamA }, keys.operatorA);
    const moved = await api.http.put(`/api/v1/targets/${mine.id}`).set(auth).send({ team_id: ids.teamB }).expect(403);
    expect(moved.body.details).toEqual([expect.objectContaining({ field: 'team_id' })]);
    await api.http.delete(`/api/v1/targets/${mine.id}`).set(auth).expect(204);
    // An unknown team is a 400 naming it, for any caller.
    const unknownTeam = await api.http.post('/api/v1/targets').set(api.auth()).send({ name: unique('t'), type: 'File', team_id: 'team-missing' }).expect(400);
    expect(unknownTeam.body.details).toEqual([expect.objectContaining({ field: 'team_id' })]);
  });

  it('lists only the jobs and notifications of team A certificates; B ones are 404', async () => {
    const jobs = (await as(keys.operatorA).get('/api/v1/jobs').expect(200)).body;
    expect(idsOf(jobs)).toEqual([ids.jobA1]);
    expect(jobs.total).toBe(1);
    await as(keys.operatorA).get(`/api/v1/jobs/${ids.jobB1}`).expect(404);
    await api.http.post(`/api/v1/jobs/${ids.jobB1}/cancel`).set(api.auth(keys.operatorA)).send({}).expect(404);
    const notifications = (await as(keys.operatorA).get('/api/v1/notifications').expect(200)).body;
    expect(idsOf(notifications)).toEqual([ids.notificationA1]);
    expect(notifications.total).toBe(1);
    await as(keys.operatorA).get(`/api/v1/notifications/${ids.notificationB1}`).expect(404);
    await api.http.post(`/api/v1/notifications/${ids.notificationB1}/read`).set(api.auth(keys.operatorA)).send({}).expect(404);
    // An alert of no certificate would be nobody's: a scoped caller names one of its certificates (403), never B's (400 unknown).
    const alert = { type: 'ExpirationWarning', channel: 'Email', recipient: 'ops@example.com', message: 'm' };
    const orphan = await api.http.post('/api/v1/notifications').set(api.auth(keys.operatorA)).send(alert).expect(403);
    expect(orphan.body.details).toEqual([expect.objectContaining({ field: 'certificate_id' })]);
    await api.http.post('/api/v1/notifications').set(api.auth(keys.operatorA)).send({ ...alert, certificate_id: ids.certB1 }).expect(400);
  });

  it('lists only the agents deploying to targets team A may see; B is 404', async () => {
    const agents = (await as(keys.operatorA).get('/api/v1/agents').expect(200)).body;
    expect(idsOf(agents)).toEqual([ids.agentA]);
    expect(agents.total).toBe(1);
    await as(keys.operatorA).get(`/api/v1/agents/${ids.agentB}`).expect(404);
    await as(keys.operatorA).get(`/api/v1/agents/${ids.agentA}`).expect(200);
  });

  it("lists only team A's audit rows, totals included; a team B row by id is 404", async () => {
    // A job's event belongs to its certificate's team.
    await api.http.post(`/api/v1/jobs/${ids.jobA1}/cancel`).set(api.auth(keys.operatorA)).send({}).expect(200);
    await api.flushAudit();
    const expected = await api.db.query<{ id: string }>('SELECT id FROM audit_events WHERE team_id = $1', [ids.teamA]);
    const trail = (await as(keys.operatorA).get('/api/v1/audit?per_page=500').expect(200)).body;
    expect(trail.total).toBe(expected.rows.length);
    expect(idsOf(trail)).toEqual(expected.rows.map((r) => r.id).sort());
    const resources = new Set(trail.data.map((e: { resource_id: string }) => e.resource_id));
    expect(resources.has(ids.certA1)).toBe(true);
    expect(resources.has(ids.jobA1)).toBe(true);
    expect(resources.has(ids.notificationA1)).toBe(true);
    for (const foreign of [ids.certB1, ids.certB2, ids.jobB1, ids.notificationB1, ids.targetB]) expect(resources.has(foreign)).toBe(false);
    const bRow = await api.db.query<{ id: string }>(`SELECT id FROM audit_events WHERE resource_id = $1 LIMIT 1`, [ids.certB1]);
    await as(keys.operatorA).get(`/api/v1/audit/${bRow.rows[0]!.id}`).expect(404);
    await api.http.get(`/api/v1/audit/${bRow.rows[0]!.id}`).set(api.auth()).expect(200);
    // The NDJSON export: the same rows.
    const exported = (await as(keys.operatorA).get('/api/v1/audit/export?limit=1000').expect(200)).text.trim().split('\n').map((line) => JSON.parse(line) as { id: string });
    expect(exported.map((e) => e.id).sort()).toEqual(expected.rows.map((r) => r.id).sort());
    // The chain still verifies: team_id is outside the hashed text.
    expect((await api.http.get('/api/v1/audit/verify').set(api.auth()).expect(200)).body.intact).toBe(true);
  });

  it('scopes the dashboard counts to team A', async () => {
    const summary = (await as(keys.operatorA).get('/api/v1/stats/summary').expect(200)).body;
    const { rows } = await api.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM managed_certificates WHERE team_id = $1 AND status <> 'Archived'`, [ids.teamA]);
    expect(summary.total_certificates).toBe(rows[0]!.n);
    const byStatus = (await as(keys.operatorA).get('/api/v1/stats/certificates-by-status').expect(200)).body as Array<{ count: number }>;
    const { rows: allRows } = await api.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM managed_certificates WHERE team_id = $1`, [ids.teamA]);
    expect(byStatus.reduce((sum, s) => sum + s.count, 0)).toBe(allRows[0]!.n);
  });

  it('issuer- and profile-scoped grants see the certificates of that issuer or profile, and what deploys them', async () => {
    const byIssuer = (await as(keys.issuerScoped).get('/api/v1/certificates').expect(200)).body;
    expect(idsOf(byIssuer)).toEqual([ids.certB1]);
    expect(byIssuer.total).toBe(1);
    expect(idsOf((await as(keys.issuerScoped).get('/api/v1/targets').expect(200)).body)).toEqual([ids.targetB]);
    await as(keys.issuerScoped).get(`/api/v1/certificates/${ids.certA1}`).expect(404);
    const byProfile = (await as(keys.profileScoped).get('/api/v1/certificates').expect(200)).body;
    expect(idsOf(byProfile)).toEqual([ids.certB2]);
    expect(byProfile.total).toBe(1);
  });

  it('a caller whose grants reach no rows gets empty lists with total 0', async () => {
    for (const path of ['/api/v1/certificates', '/api/v1/targets', '/api/v1/jobs', '/api/v1/notifications', '/api/v1/agents']) {
      const body = (await as(keys.nothing).get(path).expect(200)).body;
      expect(body, path).toMatchObject({ data: [], total: 0 });
    }
    await as(keys.nothing).get(`/api/v1/certificates/${ids.certA1}`).expect(404);
    const refused = await as(keys.unrelated).get('/api/v1/certificates').expect(403);
    expect(refused.body.message).toBe('missing permission cert.read');
  });

  it("lists only its own team and that team's owners (B's by id is 404); issuers and profiles, reference data, come whole", async () => {
    const teams = (await as(keys.operatorA).get('/api/v1/teams?per_page=500').expect(200)).body;
    expect(idsOf(teams)).toEqual([ids.teamA]);
    expect(teams.total).toBe(1);
    await as(keys.operatorA).get(`/api/v1/teams/${ids.teamB}`).expect(404);
    const owners = (await as(keys.operatorA).get('/api/v1/owners?per_page=500').expect(200)).body;
    expect(owners.data.map((o: { team_id: string }) => o.team_id)).toEqual(owners.data.map(() => ids.teamA));
    expect(idsOf(owners)).toContain(ids.ownerA);
    await as(keys.operatorA).get(`/api/v1/owners/${ids.ownerB}`).expect(404);
    // Holding team.read only within an issuer names no team: none is listed.
    const issuerOnly = await keyFor('issuer-teams', grantsIn('issuer', ids.issuer2!, ['team.read']));
    expect((await as(issuerOnly).get('/api/v1/teams').expect(200)).body.total).toBe(0);
    const issuers = (await as(keys.operatorA).get('/api/v1/issuers?per_page=500').expect(200)).body;
    expect(idsOf(issuers)).toEqual(expect.arrayContaining([ids.issuer1, ids.issuer2]));
  });

  // Last in the file: it opens jobs of its own, which the job counts above do not expect.
  it("lists and opens only the approval requests of team A's certificates; B's by id is 404, and deciding it too", async () => {
    const gated = (await post(api, '/api/v1/profiles', { name: unique('gated'), requires_approval: true })).id as string;
    const held: Record<'A' | 'B', string> = { A: '', B: '' };
    for (const team of ['A', 'B'] as const) {
      const name = `${unique('gated')}.example.com`;
      const cert = await post(api, '/api/v1/certificates', {
        name, common_name: name, owner_id: ids[`owner${team}`], team_id: ids[`team${team}`], issuer_id: ids.issuer1, certificate_profile_id: gated,
      });
      await api.http.post(`/api/v1/certificates/${cert.id}/renew`).set(api.auth()).send({}).expect(202);
      const rows = await api.db.query('SELECT id FROM issuance_approval_requests WHERE certificate_id = $1', [cert.id]);
      held[team] = rows.rows[0].id;
    }
    const listed = (await as(keys.operatorA).get('/api/v1/approvals?state=pending').expect(200)).body;
    expect(listed.data.map((r: { id: string }) => r.id)).toContain(held.A);
    expect(listed.data.map((r: { id: string }) => r.id)).not.toContain(held.B);
    expect(listed.total).toBe(listed.data.length);
    await as(keys.operatorA).get(`/api/v1/approvals/${held.A}`).expect(200);
    await as(keys.operatorA).get(`/api/v1/approvals/${held.B}`).expect(404);
    await api.http.post(`/api/v1/approvals/${held.B}/approve`).set(api.auth(keys.operatorA)).send({}).expect(404);
    // The admin key sees both.
    const all = (await api.http.get('/api/v1/approvals?state=pending').set(api.auth()).expect(200)).body;
    expect(all.data.map((r: { id: string }) => r.id)).toEqual(expect.arrayContaining([held.A, held.B]));
  });
});
