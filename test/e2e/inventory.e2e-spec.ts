import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';

describe('inventory REST API (certctl v1 dialect)', () => {
  let api: ApiHarness;
  let inv: Inventory;

  beforeAll(async () => {
    // Summaries here must see each change at once; caching has its own tests.
    api = await startApi({ CERTCTL_READ_CACHE_TTL: '1ms' });
    inv = await createInventory(api);
  });
  afterAll(async () => api?.close());

  const get = async (path: string) => (await api.http.get(path).set(api.auth()).expect(200)).body;

  it('creates, reads, updates and deletes the simple resources', async () => {
    const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      ['teams', { name: unique('t'), description: 'd' }, { description: 'changed' }, /^team-/],
      ['owners', { name: unique('o'), email: 'o@example.com' }, { email: 'new@example.com' }, /^owner-/],
      ['issuers', { name: unique('i'), type: 'ACME', config: { directory_url: 'https://acme.example/dir' } }, { enabled: false }, /^iss-/],
      ['targets', { name: unique('tg'), type: 'NGINX', config: { cert_path: '/etc/nginx/a.crt', reload_command: 'nginx -s reload', validate_command: 'nginx -t' } }, { enabled: false }, /^target-/],
      ['renewal-policies', { name: unique('rp'), renewal_window_days: 20, alert_channels: { critical: ['Email'] } }, { auto_renew: false }, /^rp-/],
      ['profiles', { name: unique('p'), max_ttl_seconds: 86400 * 90, allowed_ekus: ['serverAuth', 'clientAuth'] }, { must_staple: true }, /^prof-/],
      ['policies', { name: unique('pol'), type: 'AllowedEnvironments', config: { environments: ['prod'] } }, { severity: 'Critical' }, /^pr-/],
    ];
    for (const [path, body, patch, idPattern] of cases) {
      const created = await post(api, `/api/v1/${path}`, body);
      expect(created.id, path).toMatch(idPattern);
      expect(created).toMatchObject(body);
      expect(await get(`/api/v1/${path}/${created.id}`)).toMatchObject(body);
      const updated = (await api.http.put(`/api/v1/${path}/${created.id}`).set(api.auth()).send(patch).expect(200)).body;
      expect(updated, path).toMatchObject({ ...body, ...patch });
      await api.http.delete(`/api/v1/${path}/${created.id}`).set(api.auth()).expect(204);
      await api.http.get(`/api/v1/${path}/${created.id}`).set(api.auth()).expect(404);
    }
  });

  it('accepts a client-supplied id, as certctl does', async () => {
    const team = await post(api, '/api/v1/teams', { id: 'team-sre', name: unique('sre') });
    expect(team.id).toBe('team-sre');
  });

  it('creates a certificate Pending, maps targets, and archives on delete', async () => {
    const t1 = await post(api, '/api/v1/targets', { name: unique('nginx'), type: 'NGINX' });
    const t2 = await post(api, '/api/v1/targets', { name: unique('k8s'), type: 'KubernetesSecrets' });
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv, { target_ids: [t1.id, t2.id, t1.id], tags: { app: 'web' } }));
    expect(cert).toMatchObject({ status: 'Pending', renewal_policy_id: 'rp-default', tags: { app: 'web' } });
    expect(cert).not.toHaveProperty('expires_at'); // not issued yet: unset, so omitted
    expect(cert.id).toMatch(/^mc-/);
    expect(cert.target_ids).toEqual([t1.id, t2.id].sort());
    expect(cert).not.toHaveProperty('search_text');

    const updated = (await api.http.put(`/api/v1/certificates/${cert.id}`).set(api.auth()).send({ target_ids: [t2.id], environment: 'staging' }).expect(200)).body;
    expect(updated).toMatchObject({ environment: 'staging', target_ids: [t2.id] });
    const { rows } = await api.db.query('SELECT target_id FROM certificate_target_mappings WHERE certificate_id = $1', [cert.id]);
    expect(rows).toEqual([{ target_id: t2.id }]);

    await api.http.delete(`/api/v1/certificates/${cert.id}`).set(api.auth()).expect(204);
    const archived = await get(`/api/v1/certificates/${cert.id}`);
    expect(archived.status).toBe('Archived');
    await api.http.put(`/api/v1/certificates/${cert.id}`).set(api.auth()).send({ environment: 'prod' }).expect(409);
  });

  it('a list item is exactly the certificate as GET /certificates/{id} sends it, in page and cursor modes', async () => {
    const target = await post(api, '/api/v1/targets', { name: unique('nginx'), type: 'NGINX' });
    // Strings JSON must escape, a null inside tags (the client's JSON, kept), set and unset optional fields.
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id], tags: { app: 'we"b\\\n✓' }, environment: '' }));
    // Stored JSON as the API would never write it, to show it passes through untouched (nulls inside included).
    const tags = { app: 'we"b\\\n✓', note: null, nested: { a: [1, 'two', null] } };
    const expiresAt = '2031-05-06T07:08:09.123456Z';
    await api.db.query(`UPDATE managed_certificates SET expires_at = $2, tags = $3, last_renewal_at = now(), status = 'Active' WHERE id = $1`, [cert.id, expiresAt, JSON.stringify(tags)]);
    const detail = await get(`/api/v1/certificates/${cert.id}`);
    expect(detail.expires_at).toBe('2031-05-06T07:08:09.123Z');
    expect(detail.tags).toEqual(tags);
    expect(detail).not.toHaveProperty('revoked_at');

    const listed = await api.http.get(`/api/v1/certificates?search=${encodeURIComponent(cert.name as string)}`).set(api.auth()).expect(200);
    expect(listed.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(listed.body.data).toEqual([detail]);
    expect(Object.keys(listed.body.data[0])).toEqual(Object.keys(detail));
    expect(listed.body).toMatchObject({ total: 1, page: 1, per_page: 50 });

    const byCursor = (await api.http.get(`/api/v1/certificates?cursor=&search=${encodeURIComponent(cert.name as string)}`).set(api.auth()).expect(200)).body;
    expect(byCursor).toEqual({ data: [detail], total: 1, next_cursor: '', page_size: 50 });
    const empty = (await api.http.get('/api/v1/certificates?search=nothing-matches-this-xyz').set(api.auth()).expect(200)).body;
    expect(empty).toEqual({ data: [], total: 0, page: 1, per_page: 50 });
  });

  it('filters, searches and pages the certificate list with a stable order', async () => {
    const other = await createInventory(api);
    const tag = unique('flt');
    const soon = new Date(Date.now() + 10 * 86400_000);
    const later = new Date(Date.now() + 200 * 86400_000);
    const mk = async (i: number, o: Inventory, status: string, expires: Date | null, env: string) => {
      const c = await post(api, '/api/v1/certificates', certificateBody(o, { name: `${tag}-${i}.example.com`, common_name: `${tag}-${i}.example.com`, sans: [`alt-${tag}-${i}.example.org`], environment: env }));
      await api.db.query('UPDATE managed_certificates SET status = $2, expires_at = $3 WHERE id = $1', [c.id, status, expires]);
      return c.id as string;
    };
    const ids = [
      await mk(0, inv, 'Active', soon, 'prod'),
      await mk(1, inv, 'Active', later, 'prod'),
      await mk(2, other, 'Expired', new Date(Date.now() - 86400_000), 'staging'),
      await mk(3, other, 'Active', soon, 'dev'),
    ];
    const list = async (q: string) => (await get(`/api/v1/certificates?search=${tag}&${q}`)) as { data: Array<{ id: string }>; total: number };
    const idsOf = (page: { data: Array<{ id: string }> }) => page.data.map((c) => c.id);

    expect((await list('')).total).toBe(4);
    expect(idsOf(await list('status=Active')).sort()).toEqual([ids[0], ids[1], ids[3]].sort());
    expect(idsOf(await list(`owner_id=${other.ownerId}`)).sort()).toEqual([ids[2], ids[3]].sort());
    expect(idsOf(await list(`team_id=${inv.teamId}`)).sort()).toEqual([ids[0], ids[1]].sort());
    expect(idsOf(await list(`issuer_id=${other.issuerId}&environment=dev`))).toEqual([ids[3]]);
    const within30 = new Date(Date.now() + 30 * 86400_000).toISOString();
    expect(idsOf(await list(`status=Active&expires_before=${encodeURIComponent(within30)}`)).sort()).toEqual([ids[0], ids[3]].sort());
    // free text covers name, common name and SANs, case-insensitively
    expect(idsOf(await get(`/api/v1/certificates?search=ALT-${tag}-2`) as { data: Array<{ id: string }> })).toEqual([ids[2]]);
    expect((await get('/api/v1/certificates?search=%25') as { total: number }).total).toBe(0);

    // stable order: pages of 1 walk the same sequence as one page of 4
    const all = idsOf(await list('per_page=4&sort=expires_at'));
    const walked: string[] = [];
    for (let page = 1; page <= 4; page++) walked.push(...idsOf(await list(`per_page=1&page=${page}&sort=expires_at`)));
    expect(walked).toEqual(all);
    expect(all[0]).toBe(ids[2]);
    const desc = idsOf(await list('per_page=4&sort=-expires_at'));
    expect(desc[0]).toBe(ids[1]);
    const page = await list('per_page=2&page=2');
    expect(page).toMatchObject({ total: 4, page: 2, per_page: 2 });
  });

  it('lists versions and deployments of a certificate, newest first', async () => {
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv));
    const target = await post(api, '/api/v1/targets', { name: unique('t'), type: 'File' });
    for (const n of [1, 2]) {
      await api.db.query(
        `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, created_at, encrypted_private_key)
         VALUES ($1, $2, $3, now(), now() + interval '90 days', $4, 'PEM', now() + make_interval(secs => $5), 'secret')`,
        [`certver-${cert.id}-${n}`, cert.id, `0${n}`, `${cert.id}-fp-${n}`, n],
      );
    }
    await api.db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, status) VALUES ($1, 'Deployment', $2, $3, 'Pending'), ($4, 'Issuance', $2, NULL, 'Completed')`,
      [`job-${cert.id}-d`, cert.id, target.id, `job-${cert.id}-i`]);
    const versions = await get(`/api/v1/certificates/${cert.id}/versions`);
    expect(versions).toMatchObject({ total: 2, page: 1, per_page: 50 });
    expect(versions.data.map((v: { serial_number: string }) => v.serial_number)).toEqual(['02', '01']);
    expect(versions.data[0]).not.toHaveProperty('encrypted_private_key');
    const deployments = await get(`/api/v1/certificates/${cert.id}/deployments`);
    expect(deployments.data.map((j: { id: string }) => j.id)).toEqual([`job-${cert.id}-d`]);
  });

  it('lists, gets and cancels jobs; a finished job cannot be cancelled', async () => {
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv));
    await api.db.query(`INSERT INTO jobs (id, type, certificate_id, status) VALUES ($1, 'Renewal', $2, 'AwaitingCSR'), ($3, 'Renewal', $2, 'Completed')`,
      [`job-${cert.id}-a`, cert.id, `job-${cert.id}-b`]);
    const listed = await get(`/api/v1/jobs?certificate_id=${cert.id}&status=AwaitingCSR`);
    expect(listed.data.map((j: { id: string }) => j.id)).toEqual([`job-${cert.id}-a`]);
    expect(await get(`/api/v1/jobs/${cert.id.replace('mc-', 'job-mc-')}-a`)).toMatchObject({ attempts: 0, max_attempts: 3 });
    const cancelled = (await api.http.post(`/api/v1/jobs/job-${cert.id}-a/cancel`).set(api.auth()).expect(200)).body;
    expect(cancelled).toMatchObject({ status: 'Cancelled' });
    expect(cancelled.completed_at).not.toBeNull();
    const refused = await api.http.post(`/api/v1/jobs/job-${cert.id}-b/cancel`).set(api.auth()).expect(409);
    expect(refused.body.code).toBe('JOB_NOT_CANCELLABLE');
  });

  it('evaluates policies on create and update without blocking, and lists violations', async () => {
    const rule = await post(api, '/api/v1/policies', { name: unique('domains'), type: 'AllowedDomains', config: { domains: ['corp.example'] }, severity: 'Error' });
    const tags = await post(api, '/api/v1/policies', { name: unique('tags'), type: 'RequiredMetadata', config: { keys: ['cost_center'] } });
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv, { common_name: 'web.other.example', sans: ['web.other.example', 'ok.corp.example'] }));
    const violations = await get(`/api/v1/policies/${rule.id}/violations`);
    expect(violations.total).toBe(1);
    expect(violations.data[0]).toMatchObject({ certificate_id: cert.id, severity: 'Error', message: expect.stringContaining('web.other.example') });
    expect((await get(`/api/v1/policies/${tags.id}/violations`)).data[0]).toMatchObject({ certificate_id: cert.id, severity: 'Warning' });

    await api.http.put(`/api/v1/certificates/${cert.id}`).set(api.auth()).send({ common_name: 'web.corp.example', sans: ['web.corp.example'], tags: { cost_center: '42' } }).expect(200);
    expect((await get(`/api/v1/policies/${rule.id}/violations`)).total).toBe(0);
    expect((await get(`/api/v1/policies/${tags.id}/violations`)).total).toBe(0);
    const audit = await api.db.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'policy_violation_detected' AND resource_id = $1`, [cert.id]);
    expect(audit.rows[0].n).toBe(1);
  });

  it('registers agents and lists them', async () => {
    const agent = await post(api, '/api/v1/agents', { name: unique('web01'), hostname: 'web01.internal', os: 'linux' });
    expect(agent).toMatchObject({ status: 'Offline', hostname: 'web01.internal' });
    const listed = await get('/api/v1/agents?status=Offline');
    expect(listed.data.map((a: { id: string }) => a.id)).toContain(agent.id);
    const one = await get(`/api/v1/agents/${agent.id}`);
    expect(one).not.toHaveProperty('api_key');
  });

  it('summarises the inventory in stats/summary with certctl field names', async () => {
    const before = await get('/api/v1/stats/summary');
    const cert = await post(api, '/api/v1/certificates', certificateBody(inv));
    await api.db.query(`UPDATE managed_certificates SET status = 'Active', expires_at = now() + interval '5 days' WHERE id = $1`, [cert.id]);
    await api.db.query(`INSERT INTO notification_events (id, type, certificate_id, channel, status) VALUES ($1, 'ExpirationWarning', $2, 'Email', 'dead')`, [`notif-${cert.id}`, cert.id]);
    const after = await get('/api/v1/stats/summary');
    expect(after.total_certificates).toBe(before.total_certificates + 1);
    expect(after.expiring_certificates).toBe(before.expiring_certificates + 1);
    expect(after.notifications_dead).toBe(before.notifications_dead + 1);
    for (const field of ['total_agents', 'active_agents', 'offline_agents', 'pending_jobs', 'failed_jobs', 'complete_jobs', 'expired_certificates', 'revoked_certificates']) {
      expect(after[field], field).toBeTypeOf('number');
    }
    expect(Date.parse(after.completed_at)).not.toBeNaN();
    // The built-in scanner agent is Online from the first boot, but it is not a host: the agent counts leave it out.
    const { rows: [scanner] } = await api.db.query(`SELECT status FROM agents WHERE id = 'server-scanner'`);
    expect(scanner.status).toBe('Online');
    const { rows: [hosts] } = await api.db.query(
      `SELECT count(*)::int AS total, count(*) FILTER (WHERE status = 'Online')::int AS online FROM agents WHERE retired_at IS NULL AND id <> 'server-scanner'`);
    expect([after.total_agents, after.active_agents]).toEqual([hosts.total, hosts.online]);
  });

  it('serves the OpenAPI 3.1 document generated from the code', async () => {
    const doc = (await api.http.get('/api/docs/openapi.json').expect(200)).body;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/certificates', '/api/v1/certificates/{id}/versions', '/api/v1/audit/verify', '/api/v1/stats/summary']));
    expect(doc.components.schemas.CreateCertificateDto.required).toEqual(expect.arrayContaining(['name', 'common_name', 'owner_id', 'issuer_id']));
    // The committed copy for clients is regenerated with `npm run openapi` whenever the API changes.
    expect(JSON.parse(readFileSync('docs/openapi.json', 'utf8')), 'docs/openapi.json is stale: run npm run openapi').toEqual(doc);
  });
});
