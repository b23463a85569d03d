import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedIssuedCertificate, TestCa } from '../../libs/deploy/src/testing/material';
import { startApi, type ApiHarness } from '../support/api-harness';
import { certificateBody, createInventory, keyWithRole, post, unique, type Inventory } from '../support/fixtures';

/** certctl's routes we lacked (issue 14, item 2), each with its bad input. */
describe('certctl dialect: routes', () => {
  let api: ApiHarness;
  let inv: Inventory;
  const scratch = mkdtempSync(join(tmpdir(), 'certctl-routes-'));

  beforeAll(async () => {
    api = await startApi();
    inv = await createInventory(api);
  });
  afterAll(async () => {
    await api?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const agent = async (fields: Record<string, string> = {}) => post(api, '/api/v1/agents', { name: unique('host'), ...fields });

  describe('DELETE /agents/{id} and GET /agents/retired', () => {
    it('retires a free agent at once, lists it under /retired only, and answers 410 to its heartbeat', async () => {
      const a = await agent();
      const res = await api.http.delete(`/api/v1/agents/${a.id}`).set(api.auth()).expect(200);
      expect(res.body).toMatchObject({ already_retired: false, cascade: false, counts: { active_targets: 0, active_certificates: 0, pending_jobs: 0 } });
      expect(Date.parse(res.body.retired_at)).toBeGreaterThan(Date.now() - 60_000);
      const active = (await api.http.get('/api/v1/agents?per_page=500').set(api.auth()).expect(200)).body.data.map((x: { id: string }) => x.id);
      expect(active).not.toContain(a.id);
      const retired = (await api.http.get('/api/v1/agents/retired').set(api.auth()).expect(200)).body;
      expect(retired.data.map((x: { id: string }) => x.id)).toContain(a.id);
      expect(retired).toMatchObject({ page: 1, per_page: 50 });
      await api.http.post(`/api/v1/agents/${a.id}/heartbeat`).set(api.auth(a.api_key)).send({}).expect(410);
      // Again: nothing to do, 204 with no body.
      const again = await api.http.delete(`/api/v1/agents/${a.id}`).set(api.auth()).expect(204);
      expect(again.text).toBe('');
    });

    it('refuses (409 with counts) while targets, certificates and jobs depend on it; force with a reason cascades', async () => {
      const a = await agent();
      const target = await post(api, '/api/v1/targets', { name: unique('t'), type: 'NGINX', agent_id: a.id });
      const cert = await post(api, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
      const jobId = `job-${unique('dep')}`;
      await api.db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, agent_id, status) VALUES ($1, 'Deployment', $2, $3, $4, 'Pending')`, [jobId, cert.id, target.id, a.id]);

      const blocked = await api.http.delete(`/api/v1/agents/${a.id}`).set(api.auth()).expect(409);
      expect(blocked.body).toMatchObject({ error: 'Conflict', code: 'BLOCKED_BY_DEPENDENCIES', counts: { active_targets: 1, active_certificates: 1, pending_jobs: 1 } });
      const noReason = await api.http.delete(`/api/v1/agents/${a.id}?force=true`).set(api.auth()).expect(400);
      expect(noReason.body.details[0].field).toBe('reason');
      await api.http.delete(`/api/v1/agents/${a.id}?force=maybe`).set(api.auth()).expect(400);

      const forced = await api.http.delete(`/api/v1/agents/${a.id}?force=true&reason=decommissioned`).set(api.auth()).expect(200);
      expect(forced.body).toMatchObject({ cascade: true, counts: { active_targets: 1, pending_jobs: 1 } });
      const [t] = (await api.db.query('SELECT retired_at, retired_reason, enabled FROM deployment_targets WHERE id = $1', [target.id])).rows;
      expect(t.retired_at).not.toBeNull();
      expect(t.enabled).toBe(false);
      const [j] = (await api.db.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows;
      expect(j.status).toBe('Cancelled');
      const [audit] = (await api.db.query(`SELECT details FROM audit_events WHERE action = 'agent_retired' AND resource_id = $1`, [a.id])).rows;
      expect(audit.details).toMatchObject({ reason: 'decommissioned', cascade: true });
    });

    it('refuses sentinel agents (403), unknown ids (404) and viewers (403)', async () => {
      await api.http.delete('/api/v1/agents/server-scanner').set(api.auth()).expect(403);
      await api.http.delete('/api/v1/agents/agent-nope').set(api.auth()).expect(404);
      const a = await agent();
      await api.http.delete(`/api/v1/agents/${a.id}`).set(api.auth(await keyWithRole(api, 'viewer'))).expect(403);
    });
  });

  describe('agent groups', () => {
    it('matches agents by OS, architecture, CIDR and version, with manual include and exclude', async () => {
      const tag = unique('grp');
      const linuxA = await agent({ name: `${tag}-a`, os: 'linux', architecture: 'amd64', ip_address: '10.1.2.3', version: '1.4.2' });
      const linuxB = await agent({ name: `${tag}-b`, os: 'Linux', architecture: 'amd64', ip_address: '10.1.9.9', version: '1.4.0' });
      const otherNet = await agent({ name: `${tag}-c`, os: 'linux', architecture: 'amd64', ip_address: '192.168.1.1', version: '1.4.2' });
      const oldVersion = await agent({ name: `${tag}-d`, os: 'linux', architecture: 'amd64', ip_address: '10.1.0.1', version: '1.3.9' });
      const windows = await agent({ name: `${tag}-e`, os: 'windows', architecture: 'amd64', ip_address: '10.1.0.2', version: '1.4.2' });
      const junkIp = await agent({ name: `${tag}-f`, os: 'linux', architecture: 'amd64', ip_address: 'not-an-ip', version: '1.4.2' });

      const group = await post(api, '/api/v1/agent-groups', {
        name: unique('linux-10'), match_os: 'linux', match_architecture: 'AMD64', match_ip_cidr: '10.1.0.0/16', match_version: '1.4.*',
      });
      expect(group.id).toMatch(/^ag-/);
      const members = async () => (await api.http.get(`/api/v1/agent-groups/${group.id}/members`).set(api.auth()).expect(200)).body;
      const first = await members();
      expect(first.data.map((m: { id: string }) => m.id)).toEqual([linuxA.id, linuxB.id]);
      expect(first.data[0]).toMatchObject({ membership: 'dynamic', os: 'linux' });
      expect(first.total).toBe(2);

      await api.http.put(`/api/v1/agent-groups/${group.id}/overrides`).set(api.auth()).send({ agent_id: windows.id }).expect(200);
      await api.http.put(`/api/v1/agent-groups/${group.id}/overrides`).set(api.auth()).send({ agent_id: linuxB.id, membership_type: 'exclude' }).expect(200);
      const second = await members();
      expect(second.data.map((m: { id: string }) => m.id)).toEqual([linuxA.id, windows.id]);
      expect(second.data[1].membership).toBe('include');
      for (const outside of [otherNet, oldVersion, junkIp, linuxB]) expect(second.data.map((m: { id: string }) => m.id)).not.toContain(outside.id);

      // Criteria all empty: manual only.
      const manual = await post(api, '/api/v1/agent-groups', { name: unique('manual') });
      expect((await api.http.get(`/api/v1/agent-groups/${manual.id}/members`).set(api.auth()).expect(200)).body.total).toBe(0);
      await api.http.delete(`/api/v1/agent-groups/${group.id}/overrides/${windows.id}`).set(api.auth()).expect(204);
      expect((await members()).data.map((m: { id: string }) => m.id)).toEqual([linuxA.id]);

      // Renewal policies may be scoped to a group; deleting the group unscopes them.
      const policy = await post(api, '/api/v1/renewal-policies', { name: unique('rp'), agent_group_id: group.id });
      expect(policy.agent_group_id).toBe(group.id);
      const updated = (await api.http.put(`/api/v1/agent-groups/${group.id}`).set(api.auth()).send({ match_version: '' }).expect(200)).body;
      expect(updated.match_version).toBe('');
      await api.http.delete(`/api/v1/agent-groups/${group.id}`).set(api.auth()).expect(204);
      const after = (await api.http.get(`/api/v1/renewal-policies/${policy.id}`).set(api.auth()).expect(200)).body;
      expect(after).not.toHaveProperty('agent_group_id');
    });

    it('names the field of bad input: 400 CIDR and member agent, 404 unknown group, 409 duplicate name', async () => {
      const bad = await api.http.post('/api/v1/agent-groups').set(api.auth()).send({ name: unique('g'), match_ip_cidr: '10.0.0.0/33' }).expect(400);
      expect(bad.body.details[0].field).toBe('match_ip_cidr');
      await api.http.post('/api/v1/agent-groups').set(api.auth()).send({ name: unique('g'), match_ip_cidr: 'ten' }).expect(400);
      await api.http.post('/api/v1/agent-groups').set(api.auth()).send({ name: unique('g'), colour: 'red' }).expect(400);
      const g = await post(api, '/api/v1/agent-groups', { name: unique('g'), match_ip_cidr: '2001:db8::/32' });
      // Host bits in the CIDR are fine (10.1.2.3/16 means 10.1.0.0/16), as in the agents' own notation.
      const hostBits = await post(api, '/api/v1/agent-groups', { name: unique('g'), match_ip_cidr: '10.1.2.3/16' });
      await api.http.get(`/api/v1/agent-groups/${hostBits.id}/members`).set(api.auth()).expect(200);
      await api.http.post('/api/v1/agent-groups').set(api.auth()).send({ name: g.name }).expect(409);
      const member = await api.http.put(`/api/v1/agent-groups/${g.id}/overrides`).set(api.auth()).send({ agent_id: 'agent-ghost' }).expect(400);
      expect(member.body.details[0].field).toBe('agent_id');
      await api.http.put(`/api/v1/agent-groups/${g.id}/overrides`).set(api.auth()).send({ agent_id: 'x', membership_type: 'maybe' }).expect(400);
      await api.http.get('/api/v1/agent-groups/ag-nope/members').set(api.auth()).expect(404);
      await api.http.delete(`/api/v1/agent-groups/${g.id}/overrides/agent-nope`).set(api.auth()).expect(404);
      const policy = await api.http.post('/api/v1/renewal-policies').set(api.auth()).send({ name: unique('rp'), agent_group_id: 'ag-nope' }).expect(400);
      expect(policy.body.details[0].field).toBe('agent_group_id');
    });
  });

  describe('GET /jobs/{id}/verification', () => {
    it('reports what the post-deploy check saw, and 404 for an unknown job', async () => {
      const ca = await TestCa.create();
      const seeded = await seedIssuedCertificate(api.db, unique('verif'), await ca.issue(['verif.example.com']), api.env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
      const target = await post(api, '/api/v1/targets', { name: unique('t'), type: 'File' });
      const jobId = `job-${unique('v')}`;
      await api.db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, status, completed_at) VALUES ($1, 'Deployment', $2, $3, 'Completed', now())`, [jobId, seeded.certificateId, target.id]);
      const pending = (await api.http.get(`/api/v1/jobs/${jobId}/verification`).set(api.auth()).expect(200)).body;
      expect(pending).toMatchObject({ job_id: jobId, target_id: target.id, status: 'pending', verified: false });
      expect(pending).not.toHaveProperty('verified_at');
      const [{ fingerprint_sha256: expected }] = (await api.db.query('SELECT fingerprint_sha256 FROM certificate_versions WHERE id = $1', [seeded.versionId])).rows;
      expect(pending.expected_fingerprint).toBe(expected);

      await api.http.post(`/api/v1/jobs/${jobId}/verify`).set(api.auth()).send({ verified: false, actual_fingerprint: 'ab'.repeat(32), error: 'served another leaf' }).expect(200);
      const failed = (await api.http.get(`/api/v1/jobs/${jobId}/verification`).set(api.auth()).expect(200)).body;
      expect(failed).toMatchObject({ status: 'failed', verified: false, actual_fingerprint: 'ab'.repeat(32), expected_fingerprint: expected, error: 'served another leaf' });
      await api.http.get('/api/v1/jobs/job-nope/verification').set(api.auth()).expect(404);
      await api.http.get(`/api/v1/jobs/${jobId}/verification`).set(api.auth(await keyWithRole(api, 'auditor'))).expect(403);
    });
  });

  describe('POST /certificates/bulk-reassign', () => {
    it('moves the listed certificates to the owner (and team), skipping archived ones and reporting unknown ids', async () => {
      const owner = await post(api, '/api/v1/owners', { name: unique('new-owner'), email: 'new@example.com' });
      const team = await post(api, '/api/v1/teams', { name: unique('new-team') });
      const a = await post(api, '/api/v1/certificates', certificateBody(inv));
      const b = await post(api, '/api/v1/certificates', certificateBody(inv));
      const archived = await post(api, '/api/v1/certificates', certificateBody(inv));
      await api.http.delete(`/api/v1/certificates/${archived.id}`).set(api.auth()).expect(204);
      const res = await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth())
        .send({ certificate_ids: [a.id, b.id, archived.id, 'mc-ghost'], owner_id: owner.id, team_id: team.id }).expect(200);
      expect(res.body).toEqual({
        total_matched: 3, total_reassigned: 2, total_skipped: 1, total_failed: 1, errors: [{ certificate_id: 'mc-ghost', error: 'certificate not found' }],
      });
      for (const id of [a.id, b.id]) {
        expect((await api.http.get(`/api/v1/certificates/${id}`).set(api.auth()).expect(200)).body).toMatchObject({ owner_id: owner.id, team_id: team.id });
      }
      expect((await api.http.get(`/api/v1/certificates/${archived.id}`).set(api.auth()).expect(200)).body.owner_id).toBe(inv.ownerId);
      // Once more: already theirs, so skipped.
      const again = await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth()).send({ certificate_ids: [a.id], owner_id: owner.id }).expect(200);
      expect(again.body).toMatchObject({ total_matched: 1, total_reassigned: 0, total_skipped: 1 });
    });

    it('400 for an unknown owner or team, a missing owner, no certificates; 403 for viewers', async () => {
      const a = await post(api, '/api/v1/certificates', certificateBody(inv));
      const owner = await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth()).send({ certificate_ids: [a.id], owner_id: 'owner-ghost' }).expect(400);
      expect(owner.body.details[0].field).toBe('owner_id');
      const team = await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth()).send({ certificate_ids: [a.id], owner_id: inv.ownerId, team_id: 'team-ghost' }).expect(400);
      expect(team.body.details[0].field).toBe('team_id');
      expect((await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth()).send({ certificate_ids: [a.id] }).expect(400)).body.details[0].field).toBe('owner_id');
      expect((await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth()).send({ certificate_ids: [], owner_id: inv.ownerId }).expect(400)).body.details[0].field).toBe('certificate_ids');
      await api.http.post('/api/v1/certificates/bulk-reassign').set(api.auth(await keyWithRole(api, 'viewer'))).send({ certificate_ids: [a.id], owner_id: inv.ownerId }).expect(403);
    });
  });

  describe('POST /certificates/{id}/export/pkcs12', () => {
    const opensslPkcs12 = (bundle: Buffer, password: string, args: string[]) => {
      const file = join(scratch, `${unique('b')}.p12`);
      writeFileSync(file, bundle);
      return spawnSync('openssl', ['pkcs12', '-in', file, '-passin', 'env:P12_PASSWORD', ...args], { env: { ...process.env, P12_PASSWORD: password }, encoding: 'utf8' });
    };

    it('exports a server-held key with its chain, and openssl pkcs12 opens it with the password only', async () => {
      const ca = await TestCa.create();
      const material = await ca.issue(['p12.example.com']);
      const seeded = await seedIssuedCertificate(api.db, unique('p12'), material, api.env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
      const res = await api.http.post(`/api/v1/certificates/${seeded.certificateId}/export/pkcs12`).set(api.auth())
        .send({ password: 's3cret pass' }).buffer(true).parse((r, cb) => { const chunks: Buffer[] = []; r.on('data', (c: Buffer) => chunks.push(c)); r.on('end', () => cb(null, Buffer.concat(chunks))); })
        .expect(200);
      expect(res.headers['content-type']).toContain('application/x-pkcs12');
      const bundle = res.body as Buffer;
      const certs = opensslPkcs12(bundle, 's3cret pass', ['-nokeys']);
      expect(certs.status, certs.stderr).toBe(0);
      expect(certs.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      const key = opensslPkcs12(bundle, 's3cret pass', ['-nocerts', '-nodes']);
      expect(key.status, key.stderr).toBe(0);
      expect(key.stdout).toMatch(/BEGIN PRIVATE KEY/);
      expect(opensslPkcs12(bundle, 'wrong', ['-nokeys']).status).not.toBe(0);
      await api.flushAudit();
      const audit = (await api.db.query(`SELECT action, details FROM audit_events WHERE resource_id = $1 OR details->>'path' LIKE $2 ORDER BY seq`,
        [seeded.certificateId, `%${seeded.certificateId}/export/pkcs12`])).rows;
      expect(audit.map((r) => r.action)).toEqual(expect.arrayContaining(['export_pkcs12', 'api_post']));
      expect(JSON.stringify(audit)).not.toContain('s3cret');
      expect(audit.find((r) => r.action === 'api_post').details.body_hash).toBeNull();
    });

    it('409 for an agent-held key and before issuance, 400 for an empty or too long password, 404 unknown', async () => {
      const ca = await TestCa.create();
      const seeded = await seedIssuedCertificate(api.db, unique('agentkey'), await ca.issue(['agent.example.com']), api.env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
      await api.db.query('UPDATE certificate_versions SET encrypted_private_key = NULL WHERE id = $1', [seeded.versionId]);
      const agentHeld = await api.http.post(`/api/v1/certificates/${seeded.certificateId}/export/pkcs12`).set(api.auth()).send({ password: 'pw' }).expect(409);
      expect(agentHeld.body.code).toBe('KEY_NOT_ON_SERVER');
      const pending = await post(api, '/api/v1/certificates', certificateBody(inv));
      expect((await api.http.post(`/api/v1/certificates/${pending.id}/export/pkcs12`).set(api.auth()).send({ password: 'pw' }).expect(409)).body.code).toBe('CERTIFICATE_NOT_ISSUED');
      for (const password of ['', 'x'.repeat(129), undefined, 42]) {
        const res = await api.http.post(`/api/v1/certificates/${seeded.certificateId}/export/pkcs12`).set(api.auth()).send({ password }).expect(400);
        expect(res.body.details[0].field).toBe('password');
      }
      await api.http.post('/api/v1/certificates/mc-ghost/export/pkcs12').set(api.auth()).send({ password: 'pw' }).expect(404);
    });
  });

  describe('GET /audit/export', () => {
    it('streams NDJSON in chain order with filters, is audited, and refuses bad filters', async () => {
      const tag = unique('exp');
      await api.db.query(`INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
        SELECT 'audit-' || $1 || '-' || g, 'exporter', 'System', $1, 'test', g::text, 'config', jsonb_build_object('n', g) FROM generate_series(1, 30) g`, [tag]);
      const res = await api.http.get(`/api/v1/audit/export?action=${tag}&limit=25`).set(api.auth()).expect(200);
      expect(res.headers['content-type']).toContain('application/x-ndjson');
      const lines = res.text.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toHaveLength(25);
      expect(lines.map((l) => l.details.n)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      expect(lines[0]).toMatchObject({ actor: 'exporter', action: tag, event_category: 'config', row_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      const none = await api.http.get(`/api/v1/audit/export?action=${tag}&from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`).set(api.auth()).expect(200);
      expect(none.text).toBe('');
      await api.flushAudit();
      const [exported] = (await api.db.query(`SELECT details FROM audit_events WHERE action = 'audit_exported' ORDER BY seq LIMIT 1`)).rows;
      expect(exported.details).toMatchObject({ rows: 25, complete: true, limit: 25 });

      for (const query of ['limit=0', 'limit=1000001', 'category=finance', 'from=yesterday', `from=${new Date().toISOString()}&to=${new Date(Date.now() - 1000).toISOString()}`]) {
        const bad = await api.http.get(`/api/v1/audit/export?${query}`).set(api.auth()).expect(400);
        expect(bad.body.details?.[0]?.field, query).toBeDefined();
      }
      await api.http.get('/api/v1/audit/export').expect(401);
      await api.http.get('/api/v1/audit/export').set(api.auth(await keyWithRole(api, 'operator'))).expect(200);
      expect((await api.http.get('/api/v1/audit/export?limit=1').set(api.auth(await keyWithRole(api, 'auditor'))).expect(200)).text.split('\n')).toHaveLength(2);
    });
  });
});
