import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrlService } from '@certctl/issuers';
import { seedIssuedCertificate, TestCa } from '../../libs/deploy/src/testing/material';
import { startApi, type ApiHarness } from '../support/api-harness';
import { createInventory, keyWithRole, post, unique, type Inventory } from '../support/fixtures';

type Json = Record<string, any>;

/**
 * What certctl's own web UI (web/src/api/types.ts and client.ts, read, not imported: nothing of certctl is built
 * here) expects from the routes it calls, written down as field → JSON type. `?` marks a field the UI treats as
 * optional (absent when unset); `|null` one it reads as null when unset.
 */
const CERTCTL = {
  version: { version: 'string', commit: 'string', modified: 'boolean', build_time: 'string' },
  target: { id: 'string', name: 'string', type: 'string', agent_id: 'string|null', config: 'object', enabled: 'boolean', created_at: 'string' },
  auditEvent: { id: 'string', actor: 'string', actor_type: 'string', action: 'string', resource_type: 'string', resource_id: 'string', details: 'object', timestamp: 'string' },
  healthCheck: {
    id: 'string', endpoint: 'string', expected_fingerprint: 'string', observed_fingerprint: 'string', status: 'string', consecutive_failures: 'number',
    response_time_ms: 'number', tls_version: 'string', cipher_suite: 'string', cert_subject: 'string', cert_issuer: 'string', failure_reason: 'string',
    degraded_threshold: 'number', down_threshold: 'number', check_interval_seconds: 'number', enabled: 'boolean', acknowledged: 'boolean',
    created_at: 'string', updated_at: 'string', certificate_id: 'string?', last_checked_at: 'string?', acknowledged_by: 'string?',
  },
  healthHistory: { id: 'string', health_check_id: 'string', status: 'string', response_time_ms: 'number', fingerprint: 'string', failure_reason: 'string', checked_at: 'string' },
  healthSummary: { healthy: 'number', degraded: 'number', down: 'number', cert_mismatch: 'number', unknown: 'number', total: 'number' },
  crlCache: { cache_rows: 'array', row_count: 'number', generated_at: 'string' },
  crlCacheRow: {
    issuer_id: 'string', cache_present: 'boolean', crl_number: 'number?', this_update: 'string?', next_update: 'string?', generated_at: 'string?',
    generation_duration_ms: 'number?', revoked_count: 'number?', is_stale: 'boolean?', recent_events: 'array?',
  },
  crlCacheEvent: { started_at: 'string', duration_ms: 'number', succeeded: 'boolean', crl_number: 'number', revoked_count: 'number', error: 'string?' },
  scepProbes: { probes: 'array', probe_count: 'number' },
  verification: {
    job_id: 'string', target_id: 'string', verified: 'boolean', actual_fingerprint: 'string', expected_fingerprint: 'string', verified_at: 'string', error: 'string?',
  },
  job: { verification_status: 'string?', verified_at: 'string?', verification_fingerprint: 'string?', verification_error: 'string?' },
  authMe: { actor_id: 'string', actor_type: 'string', tenant_id: 'string', admin: 'boolean', roles: 'array', effective_permissions: 'array' },
  // scope_id is left out of a global grant (absent when unset, as everywhere in our v1).
  effectivePermission: { permission: 'string', scope_type: 'string', scope_id: 'string?' },
  authKeys: { keys: 'array' },
} as const;

/**
 * The other resources certctl's UI types (web/src/api/types.ts) declare, by the component name we document them
 * under: the fields it reads. `?` = optional there.
 */
const CERTCTL_RESOURCES: Record<string, string> = {
  Certificate: 'id,name,common_name,sans,status,environment,issuer_id,owner_id,team_id,renewal_policy_id,certificate_profile_id,expires_at,revoked_at?,revocation_reason?,target_ids?,tags,last_renewal_at?,last_deployment_at?,created_at,updated_at',
  CertificateVersion: 'id,certificate_id,serial_number,fingerprint_sha256,pem_chain,csr_pem,not_before,not_after,key_algorithm?,key_size?,created_at',
  Agent: 'id,name,hostname,ip_address,os,architecture,status,version,last_heartbeat,last_heartbeat_at,capabilities,tags,registered_at,created_at,updated_at,retired_at?,retired_reason?',
  Job: 'id,certificate_id,type,target_id?,agent_id?,status,attempts,max_attempts,last_error?,scheduled_at,started_at,completed_at,created_at,verification_status?,verified_at?,verification_fingerprint?,verification_error?',
  Notification: 'id,type,channel,recipient,subject?,message,status,certificate_id?,sent_at?,error?,retry_count?,next_retry_at?,last_error?,created_at',
  PolicyRule: 'id,name,type,severity,config,enabled,created_at,updated_at',
  PolicyViolation: 'id,rule_id,certificate_id,severity,message,created_at',
  RenewalPolicy: 'id,name,renewal_window_days,auto_renew,max_retries,retry_interval_seconds,alert_thresholds_days,certificate_profile_id?,created_at,updated_at',
  Issuer: 'id,name,type,config,status,enabled,last_tested_at?,test_status?,source?,created_at,updated_at?',
  CertificateProfile: 'id,name,description,allowed_key_algorithms,max_ttl_seconds,allowed_ekus,required_san_patterns,spiffe_uri_pattern,allow_short_lived,enabled,created_at,updated_at',
  Owner: 'id,name,email,team_id,created_at,updated_at',
  Team: 'id,name,description,created_at,updated_at',
  AgentGroup: 'id,name,description,match_os,match_architecture,match_ip_cidr,match_version,enabled,created_at,updated_at',
  DiscoveredCertificate: 'id,fingerprint_sha256,common_name,sans,serial_number,issuer_dn,subject_dn,not_before?,not_after?,key_algorithm,key_size,is_ca,source_path,source_format,agent_id,discovery_scan_id?,managed_certificate_id?,status,first_seen_at,last_seen_at,dismissed_at?,created_at,updated_at',
  DiscoveryScan: 'id,agent_id,directories,certificates_found,certificates_new,errors_count,scan_duration_ms,started_at,completed_at?',
  NetworkScanTarget: 'id,name,cidrs,ports,enabled,scan_interval_hours,timeout_ms,last_scan_at?,last_scan_duration_ms?,last_scan_certs_found?,created_at,updated_at',
};
/**
 * Fields certctl's UI types declare that we do not send: `Issuer.status` and `Notification.subject`, which its own
 * comments say its server never sends (status is derived from `enabled`); an agent's `last_heartbeat`,
 * `capabilities` and `tags`, which its agent pages guard (`agent.status || …`, `agent.capabilities?.length`,
 * `agent.tags && …`) and for which we hold no data (`last_heartbeat_at` is sent).
 */
const FRONTEND_ONLY = new Set(['Agent.last_heartbeat', 'Agent.capabilities', 'Agent.tags', 'Issuer.status', 'Notification.subject']);

/** certctl's enums, as its UI (and its database CHECKs) know them. */
const CERTCTL_ACTOR_TYPES = ['User', 'System', 'Agent', 'APIKey', 'Anonymous'];
const CERTCTL_HEALTH_STATUSES = ['healthy', 'degraded', 'down', 'cert_mismatch', 'unknown'];

const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Every field certctl's UI reads is there (unless optional) with the JSON type it expects. */
function expectCertctlShape(body: Json, shape: Record<string, string>, what: string): void {
  for (const [field, spec] of Object.entries(shape)) {
    const optional = spec.endsWith('?');
    const types = spec.replace('?', '').split('|');
    if (!(field in body)) {
      expect(optional, `${what}: certctl's UI reads ${field}, missing from ${JSON.stringify(body)}`).toBe(true);
      continue;
    }
    expect(types, `${what}.${field} = ${JSON.stringify(body[field])}`).toContain(jsonType(body[field]));
  }
}

/** Dates certctl's UI parses with `new Date()` must be RFC 3339. */
const expectDate = (value: unknown) => expect(Number.isNaN(Date.parse(String(value))), String(value)).toBe(false);

describe('certctl\'s own web UI against our REST v1: shapes in the OpenAPI document and on the wire', () => {
  let api: ApiHarness;
  let doc: Json;
  let ajv: Ajv2020;
  let inv: Inventory;

  beforeAll(async () => {
    api = await startApi();
    doc = (await api.http.get('/api/docs/openapi.json').expect(200)).body;
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
    inv = await createInventory(api);
  });
  afterAll(async () => api?.close());

  const component = (name: string): Json => doc.components.schemas[name];
  /** The documented 2xx JSON schema of an operation, with $refs resolved one level. */
  function documented(method: string, path: string, status = '200'): Json {
    const schema = doc.paths[path]?.[method]?.responses?.[status]?.content?.['application/json']?.schema;
    expect(schema, `${method.toUpperCase()} ${path} ${status} documents no JSON schema`).toBeDefined();
    return schema.$ref ? component(String(schema.$ref).split('/').pop()!) : schema;
  }
  /** The body matches what the document says (closed schemas: no undocumented field, no null where omitted). */
  function conforms(method: string, path: string, body: unknown, status = '200'): void {
    const schema = doc.paths[path][method].responses[status].content['application/json'].schema;
    const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/')));
    expect(validate(body), `${method.toUpperCase()} ${path}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  }
  /** Every field certctl's UI reads is documented, with a compatible type. */
  function documentsCertctlFields(schema: Json, shape: Record<string, string>, what: string): void {
    for (const [field, spec] of Object.entries(shape)) {
      const prop = schema.properties?.[field];
      expect(prop, `${what} does not document ${field}`).toBeDefined();
      if (!spec.endsWith('?') && !spec.includes('null')) expect(schema.required, `${what}.${field} should be required`).toContain(field);
      const types = spec.replace('?', '').split('|').map((t) => (t === 'number' ? 'integer' : t));
      const documentedTypes = [prop.type ?? (prop.enum || prop.const !== undefined ? 'string' : undefined)].flat().filter(Boolean);
      if (documentedTypes.length) for (const t of types) if (t !== 'object') expect(documentedTypes, `${what}.${field}`).toContain(t);
    }
  }

  it('documents every field certctl\'s UI reads on each other resource we serve', () => {
    const undocumented: string[] = [];
    for (const [name, fields] of Object.entries(CERTCTL_RESOURCES)) {
      const schema = component(name);
      expect(schema, `no ${name} component`).toBeDefined();
      for (const field of fields.split(',').map((f) => f.replace('?', ''))) {
        if (!schema.properties[field] && !FRONTEND_ONLY.has(`${name}.${field}`)) undocumented.push(`${name}.${field}`);
      }
    }
    expect(undocumented).toEqual([]);
  });

  describe('GET /api/v1/version', () => {
    it('documents and answers commit, modified, build_time and the runtime version beside our fields', async () => {
      documentsCertctlFields(documented('get', '/api/v1/version'), CERTCTL.version, 'VersionInfo');
      const body = (await api.http.get('/api/v1/version').expect(200)).body;
      conforms('get', '/api/v1/version', body);
      expectCertctlShape(body, CERTCTL.version, 'version');
      expect(body).toMatchObject({ node_version: process.version, runtime_version: process.version, api_version: 'v1' });
      if (body.build_time) expectDate(body.build_time);
    });

    it('the build records the checked-out commit and whether tracked files were modified (scripts/build-info)', () => {
      const script = join(process.cwd(), 'dist/scripts/build-info.js');
      if (!existsSync(script)) {
        expect(process.env.CI, 'dist/scripts/build-info.js is missing: run npm run build').not.toBe('true');
        console.warn('skipped: dist/scripts/build-info.js not built (npm run build)');
        return;
      }
      let head: string;
      try {
        head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
      } catch {
        expect(process.env.CI, 'no git checkout').not.toBe('true');
        console.warn('skipped: not a git checkout');
        return;
      }
      const out = join(mkdtempSync(join(tmpdir(), 'build-info-')), 'build-info.json');
      const before = Date.now();
      execFileSync(process.execPath, [script, out]);
      const info = JSON.parse(readFileSync(out, 'utf8'));
      const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
      expect(info).toEqual({ commit: head, modified: dirty, build_time: expect.any(String) });
      expect(Date.parse(info.build_time)).toBeGreaterThanOrEqual(before - 1000);
    });
  });

  describe('targets', () => {
    it('always carry agent_id: null for an agentless target, the id for an agent\'s, in list, get, create and update', async () => {
      expect(component('Target').required).toContain('agent_id');
      expect(component('Target').properties.agent_id.type).toEqual(['string', 'null']);
      documentsCertctlFields(component('Target'), CERTCTL.target, 'Target');

      const agent = await post(api, '/api/v1/agents', { name: unique('host'), os: 'linux', architecture: 'amd64' });
      const agentless = await post(api, '/api/v1/targets', { name: unique('t'), type: 'File', config: { cert_path: '/tmp/c.pem', key_path: '/tmp/k.pem' } });
      const agents = await post(api, '/api/v1/targets', { name: unique('t'), type: 'File', agent_id: agent.id });
      expect(agentless.agent_id).toBeNull();
      expect(agents.agent_id).toBe(agent.id);
      conforms('post', '/api/v1/targets', agentless, '201');

      const got = (await api.http.get(`/api/v1/targets/${agentless.id}`).set(api.auth()).expect(200)).body;
      expect(got).toHaveProperty('agent_id', null);
      conforms('get', '/api/v1/targets/{id}', got);
      const updated = (await api.http.put(`/api/v1/targets/${agentless.id}`).set(api.auth()).send({ enabled: false }).expect(200)).body;
      expect(updated).toHaveProperty('agent_id', null);
      const list = (await api.http.get('/api/v1/targets?per_page=500').set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/targets', list);
      for (const target of list.data) expectCertctlShape(target, CERTCTL.target, `target ${target.id}`);
      expect(list.data.find((t: Json) => t.id === agents.id).agent_id).toBe(agent.id);
      // Other unset fields stay omitted, as everywhere else.
      expect(got).not.toHaveProperty('last_tested_at');
    });
  });

  describe('audit', () => {
    it('actor_type is within certctl\'s set: API keys are APIKey, agent keys Agent, the server System', async () => {
      expect(component('AuditEvent').properties.actor_type.enum).toEqual(CERTCTL_ACTOR_TYPES);
      documentsCertctlFields(component('AuditEvent'), CERTCTL.auditEvent, 'AuditEvent');
      const operator = await keyWithRole(api, 'operator');
      await post(api, '/api/v1/teams', { name: unique('team') }, operator);
      const agent = await post(api, '/api/v1/agents', { name: unique('host'), os: 'linux' });
      await api.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(api.auth(agent.api_key)).send({ version: '1.0.0' }).expect(200);
      await api.flushAudit();
      const body = (await api.http.get('/api/v1/audit?per_page=500').set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/audit', body);
      for (const event of body.data) {
        expectCertctlShape(event, CERTCTL.auditEvent, `audit ${event.id}`);
        expect(CERTCTL_ACTOR_TYPES).toContain(event.actor_type);
      }
      const types = new Set(body.data.map((e: Json) => e.actor_type));
      expect(types).toContain('APIKey');
      expect(types).toContain('Agent');
    });
  });

  describe('health checks', () => {
    it('status values are certctl\'s enum in checks, history and summary', async () => {
      expect(component('HealthCheck').properties.status.enum).toEqual(CERTCTL_HEALTH_STATUSES);
      expect(component('HealthHistoryEntry').properties.status.enum).toEqual(CERTCTL_HEALTH_STATUSES);
      expect(Object.keys(component('HealthCheckSummary').properties).sort()).toEqual([...CERTCTL_HEALTH_STATUSES, 'total'].sort());
      documentsCertctlFields(component('HealthCheck'), CERTCTL.healthCheck, 'HealthCheck');
      documentsCertctlFields(component('HealthHistoryEntry'), CERTCTL.healthHistory, 'HealthHistoryEntry');

      const check = (await api.http.post('/api/v1/health-checks').set(api.auth()).send({ endpoint: '192.0.2.10:443' }).expect(201)).body;
      conforms('post', '/api/v1/health-checks', check, '201');
      expect(check.status).toBe('unknown');
      // What the scanner writes after probes (its own e2e tests run real probes): a down check and its history.
      await api.db.query(`UPDATE endpoint_health_checks SET status = 'down', consecutive_failures = 5, last_checked_at = now() WHERE id = $1`, [check.id]);
      await api.db.query(
        `INSERT INTO endpoint_health_history (health_check_id, status, response_time_ms, failure_reason) VALUES ($1, 'degraded', 3, 'refused'), ($1, 'down', 2, 'refused')`,
        [check.id]);

      const list = (await api.http.get('/api/v1/health-checks').set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/health-checks', list);
      const got = (await api.http.get(`/api/v1/health-checks/${check.id}`).set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/health-checks/{id}', got);
      expectCertctlShape(got, CERTCTL.healthCheck, 'health check');
      expect(got.status).toBe('down');
      const history = (await api.http.get(`/api/v1/health-checks/${check.id}/history`).set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/health-checks/{id}/history', history);
      expect(history.map((h: Json) => h.status).sort()).toEqual(['degraded', 'down']);
      for (const h of history) expectCertctlShape(h, CERTCTL.healthHistory, 'history entry');
      const summary = (await api.http.get('/api/v1/health-checks/summary').set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/health-checks/summary', summary);
      expectCertctlShape(summary, CERTCTL.healthSummary, 'summary');
      expect(summary.down).toBeGreaterThanOrEqual(1);
      for (const row of [...list.data, got]) expect(CERTCTL_HEALTH_STATUSES).toContain(row.status);
    });
  });

  describe('GET /api/v1/admin/crl/cache', () => {
    it('answers certctl\'s cache_rows / row_count / generated_at, one row per issuer, and keeps our per-shard data', async () => {
      const schema = documented('get', '/api/v1/admin/crl/cache');
      documentsCertctlFields(schema, CERTCTL.crlCache, 'CRL cache');
      documentsCertctlFields(component('CrlCacheRow'), CERTCTL.crlCacheRow, 'CrlCacheRow');
      documentsCertctlFields(component('CrlCacheEvent'), CERTCTL.crlCacheEvent, 'CrlCacheEvent');

      const never = await post(api, '/api/v1/issuers', { name: unique('never'), type: 'GenericCA' });
      const ca = await TestCa.create();
      await seedIssuedCertificate(api.db, unique('crl'), await ca.issue(['crl.example.com']), api.env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
      await api.app.get(CrlService).current(inv.issuerId);

      const body = (await api.http.get('/api/v1/admin/crl/cache').set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/admin/crl/cache', body);
      expectCertctlShape(body, CERTCTL.crlCache, 'CRL cache');
      expect(body.row_count).toBe(body.cache_rows.length);
      expectDate(body.generated_at);
      const built = body.cache_rows.find((r: Json) => r.issuer_id === inv.issuerId);
      expectCertctlShape(built, CERTCTL.crlCacheRow, 'built row');
      expect(built).toMatchObject({ cache_present: true, crl_number: 1, revoked_count: 0, is_stale: false });
      for (const field of ['this_update', 'next_update', 'generated_at']) expectDate(built[field]);
      expect(built.recent_events.length).toBeGreaterThanOrEqual(1);
      expectCertctlShape(built.recent_events[0], CERTCTL.crlCacheEvent, 'event');
      expect(built.recent_events[0]).toMatchObject({ succeeded: true, crl_number: 1 });
      expect(body.cache_rows.find((r: Json) => r.issuer_id === never.id)).toEqual({ issuer_id: never.id, cache_present: false, recent_events: [] });
      // Ours, which the console's issuer page reads.
      expect(body.data).toContainEqual(expect.objectContaining({ issuer_id: inv.issuerId, shard: -1, crl_number: '1' }));
      expect(body.total).toBe(body.data.length);
    });
  });

  describe('GET /api/v1/auth/me and /auth/keys (its access-control pages)', () => {
    it('/auth/me names the actor, tenant and each effective permission with its scope, for a team-scoped operator too', async () => {
      documentsCertctlFields(documented('get', '/api/v1/auth/me'), CERTCTL.authMe, 'auth/me');
      const admin = (await api.http.get('/api/v1/auth/me').set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/auth/me', admin);
      expectCertctlShape(admin, CERTCTL.authMe, 'auth/me');
      expect(admin).toMatchObject({ admin: true, tenant_id: 't-default' });
      expect(CERTCTL_ACTOR_TYPES).toContain(admin.actor_type);
      for (const grant of admin.effective_permissions) expectCertctlShape(grant, CERTCTL.effectivePermission, 'effective_permissions[]');
      expect(admin.effective_permissions).toContainEqual({ permission: 'cert.read', scope_type: 'global' });

      const operator = await post(api, '/api/v1/auth/keys', { name: unique('ui-scoped'), role: 'viewer' });
      await api.http.post(`/api/v1/auth/keys/${operator.id}/roles`).set(api.auth())
        .send({ role_id: 'r-operator', scope_type: 'team', scope_id: inv.teamId }).expect(201);
      const scoped = (await api.http.get('/api/v1/auth/me').set(api.auth(operator.key as string)).expect(200)).body;
      conforms('get', '/api/v1/auth/me', scoped);
      expect(scoped.admin).toBe(false);
      expect(scoped.effective_permissions).toContainEqual({ permission: 'cert.revoke', scope_type: 'team', scope_id: inv.teamId });
      expect(scoped.effective_permissions).not.toContainEqual(expect.objectContaining({ permission: 'cert.revoke', scope_type: 'global' }));
    });

    it("/auth/keys answers certctl's {keys} with no secret or hash in it", async () => {
      const body = (await api.http.get('/api/v1/auth/keys').set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/auth/keys', body);
      expectCertctlShape(body, CERTCTL.authKeys, 'auth/keys');
      expect(body.keys.length).toBeGreaterThan(0);
      expect(JSON.stringify(body)).not.toMatch(/key_hash|"key":|api_key/);
    });
  });

  describe('GET /api/v1/network-scan/scep-probes', () => {
    it('answers an empty, well-formed probe history instead of a 404 (we speak no SCEP), to any reader', async () => {
      const schema = documented('get', '/api/v1/network-scan/scep-probes');
      documentsCertctlFields(schema, CERTCTL.scepProbes, 'SCEPProbesResponse');
      const viewer = await keyWithRole(api, 'viewer');
      const body = (await api.http.get('/api/v1/network-scan/scep-probes').set(api.auth(viewer)).expect(200)).body;
      conforms('get', '/api/v1/network-scan/scep-probes', body);
      expect(body).toEqual({ probes: [], probe_count: 0 });
      await api.http.get('/api/v1/network-scan/scep-probes').expect(401);
    });
  });

  describe('job verification', () => {
    it('names actual_fingerprint, verified_at and error as certctl does, and the job keeps its verification_* fields', async () => {
      // Documented as optional: a pending verification has no verified_at or actual_fingerprint yet (omitted when unset).
      const pendingOptional = { target_id: 'string?', expected_fingerprint: 'string?', actual_fingerprint: 'string?', verified_at: 'string?' };
      documentsCertctlFields(documented('get', '/api/v1/jobs/{id}/verification'), { ...CERTCTL.verification, ...pendingOptional }, 'verification');
      documentsCertctlFields(component('Job'), CERTCTL.job, 'Job');
      const ca = await TestCa.create();
      const seeded = await seedIssuedCertificate(api.db, unique('verif'), await ca.issue(['verif.example.com']), api.env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
      const target = await post(api, '/api/v1/targets', { name: unique('t'), type: 'File' });
      const jobId = `job-${unique('v')}`;
      await api.db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, status, completed_at) VALUES ($1, 'Deployment', $2, $3, 'Completed', now())`,
        [jobId, seeded.certificateId, target.id]);
      await api.http.post(`/api/v1/jobs/${jobId}/verify`).set(api.auth())
        .send({ verified: false, actual_fingerprint: 'ab'.repeat(32), error: 'served another leaf' }).expect(200);
      const body = (await api.http.get(`/api/v1/jobs/${jobId}/verification`).set(api.auth()).expect(200)).body;
      conforms('get', '/api/v1/jobs/{id}/verification', body);
      expectCertctlShape(body, CERTCTL.verification, 'verification');
      expect(body).toMatchObject({ verified: false, actual_fingerprint: 'ab'.repeat(32), error: 'served another leaf' });
      expectDate(body.verified_at);
      const job = (await api.http.get(`/api/v1/jobs/${jobId}`).set(api.auth()).expect(200)).body;
      expectCertctlShape(job, CERTCTL.job, 'job');
      expect(job).toMatchObject({ verification_status: 'failed', verification_fingerprint: 'ab'.repeat(32), verification_error: 'served another leaf' });
    });
  });
});
