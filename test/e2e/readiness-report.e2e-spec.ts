import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';

const DAY_MS = 86_400_000;

/** GET /reports/readiness on the real api and PostgreSQL: lifetimes under SC-081, renewal rates, deploy automation, CSV. */
describe('readiness report (SC-081)', () => {
  let api: ApiHarness;
  let inv: Inventory;
  let otherTeamId: string;
  const certs: Record<string, string> = {};

  /** A version of `days` issued now, so the certificate's current lifetime is `days`. */
  const version = async (certificateId: string, days: number) => {
    const now = Date.now();
    await api.db.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain)
       VALUES ($1, $2, $3, $4, $5, $6, '')`,
      [unique('version'), certificateId, unique('serial'), new Date(now), new Date(now + days * DAY_MS), unique('fp')],
    );
  };
  const report = async (query = '') => {
    const res = await api.http.get(`/api/v1/reports/readiness${query}`).set(api.auth());
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  const rowOf = (body: { data: Array<{ certificate_id: string }> }, id: string) => body.data.find((r) => r.certificate_id === id) as any;

  beforeAll(async () => {
    api = await startApi({ CERTCTL_READ_CACHE_TTL: '1ms' });
    inv = await createInventory(api);
    otherTeamId = (await post(api, '/api/v1/teams', { name: unique('team') })).id as string;
    const policy = await post(api, '/api/v1/renewal-policies', { name: unique('rp'), renewal_window_days: 30 });
    const profile = await post(api, '/api/v1/profiles', { name: unique('p'), max_ttl_seconds: 86400 * 90 });
    await api.db.query(`INSERT INTO agents (id, name) VALUES ('agent-readiness', 'readiness host')`);
    const byAgent = await post(api, '/api/v1/targets', {
      name: unique('agent-nginx'), type: 'NGINX', agent_id: 'agent-readiness',
      config: { cert_path: '/etc/nginx/a.crt', key_path: '/etc/nginx/a.key', reload_command: 'nginx -s reload', validate_command: 'nginx -t' },
    });
    const reloads = await post(api, '/api/v1/targets', { name: unique('files-reload'), type: 'File', config: { cert_path: '/tmp/a.crt', reload_command: 'systemctl reload app' } });
    const noReload = await post(api, '/api/v1/targets', { name: unique('files-manual'), type: 'File', config: { cert_path: '/tmp/b.crt' } });
    const base = { renewal_policy_id: policy.id };
    certs.long = (await post(api, '/api/v1/certificates', certificateBody(inv, { ...base, target_ids: [byAgent.id, reloads.id] }))).id;
    certs.profiled = (await post(api, '/api/v1/certificates', certificateBody(inv, { ...base, certificate_profile_id: profile.id, target_ids: [byAgent.id, noReload.id] }))).id;
    certs.short = (await post(api, '/api/v1/certificates', certificateBody(inv, { ...base, team_id: otherTeamId }))).id;
    certs.unissued = (await post(api, '/api/v1/certificates', certificateBody(inv, { ...base, team_id: otherTeamId }))).id;
    await version(certs.long, 365); // an older version: the newest one counts
    await version(certs.long, 398);
    await version(certs.profiled, 90);
    await version(certs.short, 6);
  });
  afterAll(async () => api?.close());

  it('gives each certificate its lifetime now and at each SC-081 step, and its renewals a year', async () => {
    const body = await report(`?issuer_id=${inv.issuerId}`);
    expect(body.steps).toEqual([
      { key: 'sc081_2026', effective: '2026-03-15', max_days: 200 },
      { key: 'sc081_2027', effective: '2027-03-15', max_days: 100 },
      { key: 'sc081_2029', effective: '2029-03-15', max_days: 47 },
    ]);
    expect(body).toMatchObject({ total: 4, page: 1, per_page: 50 });
    const long = rowOf(body, certs.long);
    expect(long).toMatchObject({ current_lifetime_days: 398, profile_max_days: null, renewal_window_days: 30 });
    expect(long.lifetime_days).toEqual({ now: 398, sc081_2026: 200, sc081_2027: 100, sc081_2029: 47 });
    // Renewed every lifetime - min(30, lifetime / 3) days: 368, 170, 70 and 31.33 days.
    expect(long.renewals_per_year).toEqual({ now: 0.99, sc081_2026: 2.15, sc081_2027: 5.21, sc081_2029: 11.65 });
    const profiled = rowOf(body, certs.profiled);
    expect(profiled).toMatchObject({ current_lifetime_days: 90, profile_max_days: 90 });
    expect(profiled.lifetime_days).toEqual({ now: 90, sc081_2026: 90, sc081_2027: 90, sc081_2029: 47 });
    const short = rowOf(body, certs.short);
    expect(short.lifetime_days).toEqual({ now: 6, sc081_2026: 6, sc081_2027: 6, sc081_2029: 6 });
    expect(short.renewals_per_year.now).toBeCloseTo(91.25, 2); // every 4 days
    // No version yet: the pre-SC-081 limit is assumed, and said so by a null current lifetime.
    expect(rowOf(body, certs.unissued)).toMatchObject({ current_lifetime_days: null, lifetime_days: { now: 398, sc081_2029: 47 } });
    // The Local CA is private: CAA does not govern it (the CAA verdicts are in readiness-caa.e2e-spec.ts).
    expect(long.caa).toEqual({ status: 'not_applicable', detail: 'a private CA: CAA governs public CAs only' });
  });

  it('says which targets deploy without a person and names the manual ones', async () => {
    const body = await report(`?issuer_id=${inv.issuerId}`);
    expect(rowOf(body, certs.long).deployment).toEqual({ mode: 'automated', targets: 2, manual_targets: [] });
    const profiled = rowOf(body, certs.profiled).deployment;
    expect(profiled).toMatchObject({ mode: 'manual', targets: 2 });
    expect(profiled.manual_targets).toEqual([expect.objectContaining({ type: 'File', reason: expect.stringMatching(/no agent and no reload_command/) })]);
    expect(rowOf(body, certs.short).deployment).toEqual({ mode: 'no_targets', targets: 0, manual_targets: [] });
  });

  it('sums renewals a week per team and per issuer, now and at each step', async () => {
    const body = await report(`?issuer_id=${inv.issuerId}`);
    const team = body.by_team.find((g: { id: string }) => g.id === inv.teamId);
    // (0.99 + 6.08) a year now; at 47 days (11.65 + 11.65) a year; a week is 7/365 of that.
    expect(team.certificates).toBe(2);
    expect(team.renewals_per_week.now).toBeCloseTo((365 / 368 + 365 / 60) * 7 / 365, 2);
    expect(team.renewals_per_week.sc081_2029).toBeCloseTo((2 * 365 / (47 - 47 / 3)) * 7 / 365, 2);
    const issuer = body.by_issuer.find((g: { id: string }) => g.id === inv.issuerId);
    expect(issuer).toMatchObject({ certificates: 4, name: expect.any(String) });
    expect(body.totals.certificates).toBe(4);
    expect(issuer.renewals_per_week.now).toBeCloseTo(body.totals.renewals_per_week.now, 2);

    const filtered = await report(`?team_id=${otherTeamId}`);
    expect(filtered.data.map((r: { certificate_id: string }) => r.certificate_id).sort()).toEqual([certs.short, certs.unissued].sort());
    expect(filtered.by_team).toEqual([expect.objectContaining({ id: otherTeamId, certificates: 2 })]);
  });

  it('exports CSV with ?format=csv or Accept: text/csv', async () => {
    const res = await api.http.get(`/api/v1/reports/readiness?format=csv&issuer_id=${inv.issuerId}`).set(api.auth()).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const lines = res.text.trim().split('\r\n');
    expect(lines[0]).toBe([
      'certificate_id', 'name', 'common_name', 'status', 'team_id', 'issuer_id', 'issuer_type', 'current_lifetime_days', 'profile_max_days',
      'lifetime_days_now', 'lifetime_days_sc081_2026', 'lifetime_days_sc081_2027', 'lifetime_days_sc081_2029',
      'renewals_per_year_now', 'renewals_per_year_sc081_2026', 'renewals_per_year_sc081_2027', 'renewals_per_year_sc081_2029',
      'caa', 'caa_detail', 'deployment', 'manual_targets',
    ].join(','));
    expect(lines).toHaveLength(5);
    const long = lines.find((l) => l.startsWith(`${certs.long},`))!;
    expect(long).toContain(',398,,398,200,100,47,0.99,2.15,5.21,11.65,not_applicable,');
    expect(long.endsWith(',automated,')).toBe(true);
    const byAccept = await api.http.get(`/api/v1/reports/readiness?issuer_id=${inv.issuerId}`).set(api.auth()).set('Accept', 'text/csv').expect(200);
    expect(byAccept.text).toBe(res.text);
  });

  it('answers 404 for an unknown team or issuer and 400 for a bad query, never 500', async () => {
    const team = await api.http.get('/api/v1/reports/readiness?team_id=team-nope').set(api.auth()).expect(404);
    expect(team.body.message).toMatch(/team team-nope not found/);
    await api.http.get('/api/v1/reports/readiness?format=csv&team_id=team-nope').set(api.auth()).expect(404);
    await api.http.get('/api/v1/reports/readiness?issuer_id=iss-nope').set(api.auth()).expect(404);
    const bad = await api.http.get('/api/v1/reports/readiness?per_page=0&format=xml').set(api.auth()).expect(400);
    expect(JSON.stringify(bad.body)).toMatch(/per_page|format/);
  });

  it('answers quickly for thousands of certificates, a page at a time', async () => {
    const issuer = await post(api, '/api/v1/issuers', { name: unique('bulk-issuer'), type: 'GenericCA' });
    const target = await post(api, '/api/v1/targets', { name: unique('bulk-files'), type: 'File', config: { cert_path: '/tmp/bulk.crt' } });
    const n = 5000;
    await api.db.query(
      `WITH c AS (
         INSERT INTO managed_certificates (id, name, common_name, owner_id, team_id, issuer_id, renewal_policy_id, status, tags)
         SELECT 'mc-bulk-' || g, 'bulk-' || lpad(g::text, 5, '0') || '.example.com', 'bulk-' || g || '.example.com', $1, $2, $3,
                (SELECT renewal_policy_id FROM managed_certificates WHERE id = $5), 'Active', '{}'
           FROM generate_series(1, $4::int) g RETURNING id),
       v AS (
         INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain)
         SELECT 'v-' || c.id, c.id, 's-' || c.id, now(), now() + interval '90 days', 'fp-' || c.id, '' FROM c RETURNING certificate_id)
       INSERT INTO certificate_target_mappings (certificate_id, target_id) SELECT certificate_id, $6 FROM v`,
      [inv.ownerId, otherTeamId, issuer.id, n, certs.long, target.id],
    );
    const started = performance.now();
    const first = await report(`?issuer_id=${issuer.id}&per_page=500`);
    const firstMs = performance.now() - started;
    const last = await report(`?issuer_id=${issuer.id}&per_page=500&page=10`);
    expect(first.total).toBe(n);
    expect(first.data).toHaveLength(500);
    expect(last.data.at(-1)).toMatchObject({ name: 'bulk-05000.example.com', deployment: { mode: 'manual' } });
    expect(first.by_issuer).toEqual([expect.objectContaining({ id: issuer.id, certificates: n })]);
    // 90 days, 30-day window: renewed every 60 days.
    expect(first.totals.renewals_per_week.now).toBeCloseTo((n * 365 / 60) * 7 / 365, 1);
    const csv = await api.http.get(`/api/v1/reports/readiness?issuer_id=${issuer.id}&format=csv`).set(api.auth()).expect(200);
    expect(csv.text.trim().split('\r\n')).toHaveLength(n + 1);
    expect(firstMs).toBeLessThan(3000);
  });
});
