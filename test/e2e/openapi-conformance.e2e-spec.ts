import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedIssuedCertificate, TestCa } from '../../libs/deploy/src/testing/material';
import { startApi, type ApiHarness } from '../support/api-harness';
import { certificateBody, createInventory, keyWithRole, unique } from '../support/fixtures';

type Json = Record<string, any>;
/** The request a supertest response answers (typed loosely by @types/supertest). */
const requestOf = (res: Response) => (res as unknown as { req: { method: string; path: string } }).req;

/** The route families whose every JSON answer must match the published document. */
const CORE = /^\/api\/v1\/(certificates|issuers|targets|agents|agent-groups|jobs|notifications|policies|renewal-policies|profiles|owners|teams|discovered-certificates|discovery-scans|discovery-summary|network-scan-targets|audit|auth|version|stats|metrics|digest)\b/;

/**
 * Every JSON response of the core routes, as a certctl client would see them, is checked with Ajv against the
 * OpenAPI document the api publishes (/api/docs/openapi.json, the same builder as docs/openapi.json): success
 * bodies and error bodies alike. The schemas are closed (no undocumented field) and optional fields are never
 * null, so a field sent but not documented, documented but missing, or null where the document says "omitted
 * when unset" all fail here, as does an error status the operation does not document.
 */
describe('OpenAPI document vs the wire', () => {
  let api: ApiHarness;
  let doc: Json;
  let ajv: Ajv2020;
  const exercised = new Set<string>();
  let validated = 0;
  const problems: string[] = [];

  beforeAll(async () => {
    // An SMTP host (never reached: no notifier runs here) so that the digest can be queued.
    api = await startApi({ CERTCTL_SMTP_HOST: '127.0.0.1' });
    doc = (await api.http.get('/api/docs/openapi.json').expect(200)).body;
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
  });
  afterAll(async () => api?.close());

  /** The documented operation of a concrete request path, by its template (`/certificates/{id}`), literal segments first. */
  function operationOf(method: string, path: string): { template: string; op: Json } | undefined {
    const candidates = Object.keys(doc.paths).filter((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
    candidates.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
    for (const template of candidates) {
      const op = doc.paths[template][method];
      if (op) return { template, op };
    }
    return undefined;
  }

  /** The JSON schema an operation documents for a status, through a shared components.responses entry if it uses one. */
  function documentedSchema(op: Json, status: string): unknown {
    let response = op.responses?.[status];
    if (response?.$ref) response = doc.components.responses?.[String(response.$ref).split('/').pop()!];
    return response?.content?.['application/json']?.schema;
  }

  const rebase = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/'));

  /** Validates a response against the document; records what does not match. */
  function conform(method: string, res: Response): Response {
    const path = new URL(requestOf(res).path, 'http://x').pathname;
    const found = operationOf(method, path);
    if (!found) {
      problems.push(`${method.toUpperCase()} ${path}: not in the document`);
      return res;
    }
    exercised.add(`${method} ${found.template}`);
    if (!String(res.headers['content-type'] ?? '').includes('application/json')) return res;
    const schema = documentedSchema(found.op, String(res.status));
    if (!schema) {
      problems.push(`${method.toUpperCase()} ${found.template} ${res.status}: no JSON schema documented`);
      return res;
    }
    const validate = ajv.compile(rebase(schema) as object);
    validated += 1;
    if (!validate(res.body)) {
      problems.push(`${method.toUpperCase()} ${found.template} ${res.status}: ${ajv.errorsText(validate.errors, { separator: '; ' })}`);
    }
    return res;
  }

  const get = async (path: string, key?: string) => conform('get', await api.http.get(path).set(api.auth(key)));
  const send = async (method: 'post' | 'put' | 'delete', path: string, body?: object, key?: string) =>
    conform(method, await api.http[method](path).set(api.auth(key)).send(body ?? {}));
  const ok = (res: Response, status = 200) => {
    expect(res.status, `${requestOf(res).method} ${requestOf(res).path}: ${JSON.stringify(res.body)}`).toBe(status);
    return res.body as Json;
  };

  it('documents a JSON success schema for every core route', () => {
    const missing: string[] = [];
    for (const [template, methods] of Object.entries<Json>(doc.paths)) {
      if (!CORE.test(template) || template.endsWith('/export/pkcs12') || template.endsWith('/audit/export') || template.endsWith('/metrics/prometheus')) continue;
      for (const [method, op] of Object.entries<Json>(methods)) {
        const success = Object.entries<Json>(op.responses ?? {}).filter(([status]) => status.startsWith('2') && status !== '204');
        if (!success.length) continue; // 204 only
        for (const [status, response] of success) {
          if (!response.content?.['application/json']?.schema) missing.push(`${method.toUpperCase()} ${template} ${status}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('answers every core route in the documented shape', async () => {
    const inv = await createInventory(api);
    // Inventory: teams, owners, issuers, profiles, renewal and compliance policies, targets, certificates.
    const team = ok(await send('post', '/api/v1/teams', { name: unique('team'), description: 'd' }), 201);
    ok(await get('/api/v1/teams'));
    ok(await get(`/api/v1/teams/${team.id}`));
    ok(await send('put', `/api/v1/teams/${team.id}`, { description: 'e' }));
    const owner = ok(await send('post', '/api/v1/owners', { name: unique('o'), email: 'o@example.com' }), 201);
    ok(await get(`/api/v1/owners?per_page=5`));
    ok(await get(`/api/v1/owners/${owner.id}`));
    ok(await send('put', `/api/v1/owners/${owner.id}`, { team_id: team.id }));
    const issuer = ok(await send('post', '/api/v1/issuers', { name: unique('ca'), type: 'GenericCA' }), 201);
    ok(await get('/api/v1/issuers'));
    ok(await get(`/api/v1/issuers/${issuer.id}`));
    ok(await send('put', `/api/v1/issuers/${issuer.id}`, { enabled: true }));
    ok(await get(`/api/v1/issuers/${issuer.id}/budget`));
    const profile = ok(await send('post', '/api/v1/profiles', { name: unique('prof') }), 201);
    ok(await get('/api/v1/profiles'));
    ok(await get(`/api/v1/profiles/${profile.id}`));
    ok(await send('put', `/api/v1/profiles/${profile.id}`, { description: 'x' }));
    const rp = ok(await send('post', '/api/v1/renewal-policies', { name: unique('rp') }), 201);
    ok(await get('/api/v1/renewal-policies'));
    ok(await get(`/api/v1/renewal-policies/${rp.id}`));
    ok(await send('put', `/api/v1/renewal-policies/${rp.id}`, { renewal_window_days: 20 }));
    const rule = ok(await send('post', '/api/v1/policies', { name: unique('rule'), type: 'AllowedEnvironments', config: { environments: ['prod'] } }), 201);
    ok(await get('/api/v1/policies'));
    ok(await get(`/api/v1/policies/${rule.id}`));
    ok(await send('put', `/api/v1/policies/${rule.id}`, { enabled: true }));
    const target = ok(await send('post', '/api/v1/targets', { name: unique('t'), type: 'File', config: { cert_path: '/tmp/x/c.pem', key_path: '/tmp/x/k.pem' } }), 201);
    ok(await get('/api/v1/targets'));
    ok(await get(`/api/v1/targets/${target.id}`));
    ok(await send('put', `/api/v1/targets/${target.id}`, { enabled: true }));
    const cert = ok(await send('post', '/api/v1/certificates', certificateBody(inv, { environment: 'staging', target_ids: [target.id], certificate_profile_id: profile.id })), 201);
    ok(await get('/api/v1/certificates?sort=-notAfter'));
    ok(await get(`/api/v1/certificates/${cert.id}`));
    ok(await send('put', `/api/v1/certificates/${cert.id}`, { tags: { app: 'x' } }));
    ok(await get(`/api/v1/policies/${rule.id}/violations`));
    ok(await send('post', `/api/v1/certificates/${cert.id}/renew`, {}), 202);
    ok(await send('post', '/api/v1/certificates/bulk-renew', { certificate_ids: [cert.id] }));
    ok(await send('post', '/api/v1/certificates/bulk-reassign', { certificate_ids: [cert.id, 'mc-ghost'], owner_id: owner.id }));

    // An issued certificate: versions, export, deploy, renewal info.
    const ca = await TestCa.create();
    const issued = await seedIssuedCertificate(api.db, unique('wire'), await ca.issue(['wire.example.com']), api.env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
    await api.db.query('INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES ($1, $2)', [issued.certificateId, target.id]);
    ok(await get(`/api/v1/certificates/${issued.certificateId}/versions`));
    ok(await get(`/api/v1/certificates/${issued.certificateId}/export/pem`));
    ok(await get(`/api/v1/certificates/${issued.certificateId}/renewal-info`));
    ok(await send('post', `/api/v1/certificates/${issued.certificateId}/deploy`, {}), 202);
    const deployments = ok(await get(`/api/v1/certificates/${issued.certificateId}/deployments`));

    // Jobs.
    const jobs = ok(await get('/api/v1/jobs?per_page=100'));
    expect(jobs.total).toBeGreaterThan(0);
    const job = deployments.data[0];
    ok(await get(`/api/v1/jobs/${job.id}`));
    ok(await get(`/api/v1/jobs/${job.id}/verification`));
    ok(await send('post', `/api/v1/jobs/${job.id}/verify`, { verified: true, actual_fingerprint: 'ab'.repeat(32) }));
    ok(await send('post', `/api/v1/jobs/${job.id}/cancel`));

    // Agents and agent groups, the agent protocol, discovery reports.
    const agent = ok(await send('post', '/api/v1/agents', { name: unique('host'), os: 'linux', architecture: 'amd64', ip_address: '10.0.0.5', version: '1.0.0' }), 201);
    ok(await get('/api/v1/agents'));
    ok(await get(`/api/v1/agents/${agent.id}`));
    ok(await send('post', `/api/v1/agents/${agent.id}/heartbeat`, { version: '1.0.1' }, agent.api_key));
    ok(await get(`/api/v1/agents/${agent.id}/work`, agent.api_key));
    const report = ok(await send('post', `/api/v1/agents/${agent.id}/discoveries`, {
      directories: ['/etc/ssl'], certificates: [{ pem_data: (await ca.issue(['found.example.com'])).certPem, source_path: '/etc/ssl/found.pem' }],
    }, agent.api_key), 201);
    const group = ok(await send('post', '/api/v1/agent-groups', { name: unique('g'), match_os: 'linux' }), 201);
    ok(await get('/api/v1/agent-groups'));
    ok(await get(`/api/v1/agent-groups/${group.id}`));
    ok(await send('put', `/api/v1/agent-groups/${group.id}`, { match_ip_cidr: '10.0.0.0/8' }));
    ok(await get(`/api/v1/agent-groups/${group.id}/members`));
    ok(await send('put', `/api/v1/agent-groups/${group.id}/overrides`, { agent_id: agent.id, membership_type: 'exclude' }));
    ok(await get(`/api/v1/agent-groups/${group.id}/overrides`));
    const retiring = ok(await send('post', '/api/v1/agents', { name: unique('old') }), 201);
    ok(await send('delete', `/api/v1/agents/${retiring.id}`));
    ok(await get('/api/v1/agents/retired'));

    // Discovery and network scan targets.
    ok(await get('/api/v1/discovery-scans'));
    ok(await get(`/api/v1/discovery-scans/${report.id}`));
    const discovered = ok(await get('/api/v1/discovered-certificates'));
    const found = discovered.data[0];
    ok(await get(`/api/v1/discovered-certificates/${found.id}`));
    ok(await send('post', `/api/v1/discovered-certificates/${found.id}/claim`, { managed_certificate_id: cert.id }));
    ok(await send('post', `/api/v1/discovered-certificates/${found.id}/dismiss`));
    ok(await get('/api/v1/discovery-summary'));
    const nst = ok(await send('post', '/api/v1/network-scan-targets', { name: unique('lan'), cidrs: ['10.9.0.0/30'] }), 201);
    ok(await get('/api/v1/network-scan-targets'));
    ok(await get(`/api/v1/network-scan-targets/${nst.id}`));
    ok(await send('put', `/api/v1/network-scan-targets/${nst.id}`, { ports: [443, 8443] }));
    const scan = ok(await send('post', `/api/v1/network-scan-targets/${nst.id}/scan`), 202);
    ok(await send('post', `/api/v1/discovery-scans/${scan.scan_id}/cancel`));

    // Notifications.
    const notification = ok(await send('post', '/api/v1/notifications', { type: 'RenewalFailure', channel: 'Email', certificate_id: cert.id, message: 'wire check' }), 201);
    ok(await get('/api/v1/notifications'));
    ok(await get(`/api/v1/notifications/${notification.id}`));
    await api.db.query(`UPDATE notification_events SET status = 'sent', sent_at = now() WHERE id = $1`, [notification.id]);
    ok(await send('post', `/api/v1/notifications/${notification.id}/read`));
    await api.db.query(`UPDATE notification_events SET status = 'dead', last_error = 'x' WHERE id = $1`, [notification.id]);
    ok(await send('post', `/api/v1/notifications/${notification.id}/requeue`));
    ok(await send('post', '/api/v1/notifications/bulk-requeue', { type: 'RenewalFailure' }));

    // Audit and auth.
    const audit = ok(await get('/api/v1/audit?per_page=20'));
    ok(await get(`/api/v1/audit/${audit.data[0].id}`));
    ok(await get('/api/v1/audit/verify'));
    conform('get', await api.http.get('/api/v1/auth/info'));
    ok(await get('/api/v1/auth/check'));
    ok(await get('/api/v1/auth/me'));
    const key = ok(await send('post', '/api/v1/auth/keys', { name: unique('k'), role: 'viewer' }), 201);
    ok(await get('/api/v1/auth/keys'));
    ok(await get('/api/v1/auth/me', key.key));
    ok(await send('delete', `/api/v1/auth/keys/${key.id}`));
    conform('get', await api.http.get('/api/v1/version'));

    // Dashboard data, JSON metrics and the digest.
    ok(await get('/api/v1/stats/summary'));
    ok(await get('/api/v1/stats/certificates-by-status'));
    const timeline = ok(await get('/api/v1/stats/expiration-timeline?days=7'));
    expect(timeline).toHaveLength(7);
    ok(await get('/api/v1/stats/job-trends?days=3'));
    ok(await get('/api/v1/stats/issuance-rate'));
    const metrics = ok(await get('/api/v1/metrics'));
    expect(metrics.gauge.certificate_total).toBeGreaterThan(0);
    expect(ok(await get('/api/v1/metrics/links'))).toEqual({}); // no CERTCTL_GRAFANA_URL / CERTCTL_PROMETHEUS_URL here
    const digest = ok(await get('/api/v1/digest/preview?format=json'));
    expect(digest.html).toContain('<html>');
    const html = await get('/api/v1/digest/preview');
    expect([html.status, html.headers['content-type']]).toEqual([200, expect.stringContaining('text/html')]);
    ok(await send('post', '/api/v1/digest/send', { recipients: ['ops@example.com'] }), 202);

    // Revocation and the CA tree (last: revoking changes what the routes above see).
    const intermediate = ok(await send('post', `/api/v1/issuers/${issuer.id}/intermediates`, { name: unique('ica'), common_name: 'Wire Issuing CA' }), 201);
    ok(await get(`/api/v1/issuers/${issuer.id}/intermediates`));
    ok(await get(`/api/v1/intermediates/${intermediate.id}`));
    ok(await send('post', `/api/v1/intermediates/${intermediate.id}/retire`));
    ok(await send('post', `/api/v1/certificates/${issued.certificateId}/revoke`, { reason: 'superseded' }));
    ok(await send('post', '/api/v1/certificates/bulk-revoke', { certificate_ids: [cert.id, 'mc-ghost'], reason: 'cessationOfOperation' }));

    expect(problems).toEqual([]);
    expect(exercised.size).toBeGreaterThan(80);
    expect(validated).toBeGreaterThan(80);
  });

  it('catches drift: an undocumented field, a null where a field is omitted, a missing required field', async () => {
    const team = (await api.http.post('/api/v1/teams').set(api.auth()).send({ name: unique('drift') }).expect(201)).body;
    const schema = operationOf('get', `/api/v1/teams/${team.id}`)!.op.responses['200'].content['application/json'].schema;
    const validate = ajv.compile(rebase(schema) as object);
    expect(validate(team)).toBe(true);
    expect(validate({ ...team, colour: 'red' })).toBe(false);
    const cert = (await api.http.get('/api/v1/certificates?per_page=1').set(api.auth()).expect(200)).body.data[0];
    const certSchema = ajv.compile(rebase(operationOf('get', `/api/v1/certificates/${cert.id}`)!.op.responses['200'].content['application/json'].schema) as object);
    expect(certSchema(cert)).toBe(true);
    expect(certSchema({ ...cert, revoked_at: null })).toBe(false);
    const { target_ids: _omitted, ...withoutTargets } = cert;
    expect(certSchema(withoutTargets)).toBe(false);
  });

  it('documents the error shape on every /api/v1 operation: 401/403 where a key is needed, 400, 404 and 409 where they can happen', () => {
    const undocumented: string[] = [];
    let documented = 0;
    for (const [template, methods] of Object.entries<Json>(doc.paths)) {
      if (!template.startsWith('/api/v1/')) continue;
      for (const [method, op] of Object.entries<Json>(methods)) {
        const expected = [
          ...(op.security?.length ? ['401', '403'] : []),
          ...(template.includes('{') ? ['404'] : []),
          ...(method !== 'get' ? ['409'] : []),
          ...(op.requestBody ? ['400'] : []),
        ];
        for (const status of expected) {
          if (!documentedSchema(op, status)) undocumented.push(`${method.toUpperCase()} ${template} ${status}`);
          else documented += 1;
        }
      }
    }
    expect(undocumented).toEqual([]);
    expect(documented).toBeGreaterThan(300);
    expect(doc.components.schemas.Error).toMatchObject({ additionalProperties: false, required: ['error', 'message', 'code', 'request_id'] });
  });

  it('answers client errors in the documented error shape: 400 with details, 401, 403, 404, 409', async () => {
    problems.length = 0;
    const fails = (res: Response, status: number) => {
      expect(res.status, `${requestOf(res).method} ${requestOf(res).path}: ${JSON.stringify(res.body)}`).toBe(status);
      expect(res.body).toMatchObject({ error: expect.any(String), message: expect.any(String), code: expect.any(String), request_id: expect.any(String) });
      return res.body as Json;
    };
    const inv = await createInventory(api);

    // 400: a body, a query and a path-bound resource's body, each naming the field.
    const missingName = fails(await send('post', '/api/v1/teams', { description: 'no name' }), 400);
    expect(missingName.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'name' })]));
    const unknownField = fails(await send('post', '/api/v1/agent-groups', { name: unique('g'), colour: 'red' }), 400);
    expect(unknownField.details?.map((d: Json) => d.field)).toContain('colour');
    fails(await get('/api/v1/certificates?per_page=0'), 400);
    expect(fails(await get('/api/v1/stats/job-trends?days=0'), 400).message).toMatch(/days/);
    expect(fails(await send('post', '/api/v1/digest/send', { recipients: ['not-an-address'] }), 400).details?.[0]?.field).toMatch(/recipients/);
    expect(fails(await send('post', '/api/v1/renewal-policies', { name: unique('rp'), renewal_window_days: 0 }), 400).details?.[0]?.field).toBe('renewal_window_days');

    // 401 without a key, 403 for a viewer writing.
    fails(conform('get', await api.http.get('/api/v1/teams')), 401);
    fails(await send('post', '/api/v1/teams', { name: unique('t') }, await keyWithRole(api, 'viewer')), 403);

    // 404: unknown ids, read, written, deleted and nested.
    fails(await get('/api/v1/teams/team-ghost'), 404);
    fails(await get('/api/v1/certificates/mc-ghost'), 404);
    fails(await send('put', '/api/v1/owners/o-ghost', { email: 'x@example.com' }), 404);
    fails(await send('delete', '/api/v1/renewal-policies/rp-ghost'), 404);
    fails(await get('/api/v1/agent-groups/ag-ghost/members'), 404);
    fails(await get('/api/v1/jobs/job-ghost/verification'), 404);

    // 409: a taken name, and an agent that targets still depend on (with the counts certctl's clients read).
    const team = ok(await send('post', '/api/v1/teams', { name: unique('dup') }), 201);
    expect(fails(await send('post', '/api/v1/teams', { name: team.name }), 409).code).toBeTruthy();
    const agent = ok(await send('post', '/api/v1/agents', { name: unique('busy') }), 201);
    ok(await send('post', '/api/v1/targets', { name: unique('t'), type: 'File', agent_id: agent.id }), 201);
    const blocked = fails(await send('delete', `/api/v1/agents/${agent.id}`), 409);
    expect(blocked.counts).toMatchObject({ active_targets: 1 });
    const cert = ok(await send('post', '/api/v1/certificates', certificateBody(inv)), 201);
    fails(await send('post', '/api/v1/certificates', certificateBody(inv, { name: cert.name })), 409);

    expect(problems).toEqual([]);
  });
});
