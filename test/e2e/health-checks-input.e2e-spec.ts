import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyWithRole, post, unique } from '../support/fixtures';
import { ScannerHarness, startScanner } from '../support/scanner-harness';

/** The /health-checks API with the production address policy (no loopback): shapes, bad input, 404/409. */
describe('health checks: API and bad input', () => {
  let s: ScannerHarness;

  beforeAll(async () => {
    s = await startScanner({ CERTCTL_HEALTH_CHECK_INTERVAL: '1h' });
  });
  afterAll(async () => s?.close());

  const create = (body: Record<string, unknown>) => s.http.post('/api/v1/health-checks').set(s.auth()).send(body);

  it.each([
    ['loopback', '127.0.0.1:443', 'SCAN_RANGE_RESERVED', /loopback/],
    ['a name resolving to loopback', 'localhost:443', 'SCAN_RANGE_RESERVED', /localhost resolves to 127\.0\.0\.1; .*loopback/],
    ['the metadata address', '169.254.169.254:80', 'SCAN_RANGE_RESERVED', /cloud metadata/],
    ['Alibaba\'s metadata address', '100.100.100.200:80', 'SCAN_RANGE_RESERVED', /cloud metadata/],
    ['link-local', '169.254.3.4:443', 'SCAN_RANGE_RESERVED', /link-local/],
    ['multicast', '239.1.2.3:443', 'SCAN_RANGE_RESERVED', /multicast/],
    ['"this network"', '0.0.0.0:443', 'SCAN_RANGE_RESERVED', /this network/],
    ['broadcast', '255.255.255.255:443', 'SCAN_RANGE_RESERVED', /broadcast/],
    ['IPv6', '[fd00::1]:443', 'VALIDATION_FAILED', /only IPv4/],
    ['no port', '192.0.2.10', 'VALIDATION_FAILED', /host:port/],
    ['port 0', '192.0.2.10:0', 'VALIDATION_FAILED', /host:port/],
    ['a bad host', 'not a host:443', 'VALIDATION_FAILED', /neither an IPv4 address nor a host name/],
  ])('refuses %s as endpoint with 400 naming the field', async (_what, endpoint, code, message) => {
    const res = await create({ endpoint });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.code).toBe(code);
    expect(res.body.message).toMatch(message);
    expect(res.body.details[0].field).toBe('endpoint');
  });

  it.each([
    ['an interval below CERTCTL_HEALTH_CHECK_MIN_INTERVAL (30)', { check_interval_seconds: 10 }, 'check_interval_seconds', /between 30 and 86400/],
    ['an interval above CERTCTL_HEALTH_CHECK_MAX_INTERVAL (86400)', { check_interval_seconds: 90_000 }, 'check_interval_seconds', /between 30 and 86400/],
    ['a zero interval', { check_interval_seconds: 0 }, 'check_interval_seconds', /not be less than 1/],
    ['a fractional interval', { check_interval_seconds: 60.5 }, 'check_interval_seconds', /integer/],
    ['down below degraded', { degraded_threshold: 4, down_threshold: 3 }, 'down_threshold', /at least degraded_threshold \(4\)/],
    ['a zero threshold', { degraded_threshold: 0 }, 'degraded_threshold', /not be less than 1/],
    ['a timeout under 50 ms', { timeout_ms: 10 }, 'timeout_ms', /not be less than 50/],
    ['a malformed fingerprint', { expected_fingerprint: 'abc' }, 'expected_fingerprint', /SHA-256 fingerprint/],
    ['an unknown field', { interval: 60 }, 'interval', /unknown field/],
    ['no endpoint', { endpoint: undefined }, 'endpoint', /string|empty/],
    ['an unknown certificate', { certificate_id: 'mc-nope' }, 'certificate_id', /does not exist/],
  ])('refuses %s with 400 naming the field', async (_what, body, field, message) => {
    const res = await create({ endpoint: '192.0.2.10:443', ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.details.map((d: any) => d.field)).toContain(field);
    expect(res.body.details.find((d: any) => d.field === field).message).toMatch(message);
  });

  it('creates with certctl defaults and its JSON shape, lists, filters, updates, summarises and deletes', async () => {
    const fp = 'AB:'.repeat(31) + 'AB';
    const check = await post(s, '/api/v1/health-checks', { endpoint: '192.0.2.10:443', expected_fingerprint: fp });
    expect(check).toMatchObject({
      endpoint: '192.0.2.10:443', status: 'unknown', consecutive_failures: 0, degraded_threshold: 2, down_threshold: 5,
      check_interval_seconds: 300, timeout_ms: 5000, enabled: true, acknowledged: false, expected_fingerprint: 'ab'.repeat(32),
      observed_fingerprint: '', failure_reason: '', auto_created: false,
    });
    expect(check.id).toMatch(/^hc-/);
    // certctl omits unset optional fields
    for (const field of ['certificate_id', 'network_scan_target_id', 'cert_expiry', 'last_checked_at', 'acknowledged_by', 'acknowledged_at']) {
      expect(check).not.toHaveProperty(field);
    }

    const dup = await create({ endpoint: '192.0.2.10:443' });
    expect(dup.status).toBe(409);
    expect(dup.body.details[0].field).toBe('endpoint');
    await post(s, '/api/v1/health-checks', { endpoint: '192.0.2.10:443', server_name: 'other.example.com' }); // another SNI name is another check

    const updated = await s.http.put(`/api/v1/health-checks/${check.id}`).set(s.auth()).send({ check_interval_seconds: 60, down_threshold: 9 }).expect(200);
    expect(updated.body).toMatchObject({ check_interval_seconds: 60, down_threshold: 9 });
    const tooShort = await s.http.put(`/api/v1/health-checks/${check.id}`).set(s.auth()).send({ check_interval_seconds: 5 });
    expect(tooShort.status).toBe(400);
    expect(tooShort.body.details[0].field).toBe('check_interval_seconds');
    const downBelow = await s.http.put(`/api/v1/health-checks/${check.id}`).set(s.auth()).send({ degraded_threshold: 10 });
    expect(downBelow.status).toBe(400);
    expect(downBelow.body.details[0].field).toBe('down_threshold');

    const list = await s.http.get('/api/v1/health-checks?status=unknown&per_page=1').set(s.auth()).expect(200);
    expect(list.body).toMatchObject({ total: 2, page: 1, per_page: 1 });
    expect((await s.http.get('/api/v1/health-checks?status=down').set(s.auth()).expect(200)).body.total).toBe(0);
    expect((await s.http.get('/api/v1/health-checks?status=sick').set(s.auth())).status).toBe(400);
    expect((await s.http.get('/api/v1/health-checks/summary').set(s.auth()).expect(200)).body)
      .toEqual({ healthy: 0, degraded: 0, down: 0, cert_mismatch: 0, unknown: 2, total: 2 });
    expect((await s.http.get(`/api/v1/health-checks/${check.id}/history`).set(s.auth()).expect(200)).body).toEqual([]);
    expect((await s.http.get(`/api/v1/health-checks/${check.id}/history?limit=ten`).set(s.auth())).status).toBe(400);

    await s.http.post(`/api/v1/health-checks/${check.id}/acknowledge`).set(s.auth()).send({}).expect(204);
    const acked = (await s.http.get(`/api/v1/health-checks/${check.id}`).set(s.auth()).expect(200)).body;
    expect(acked).toMatchObject({ acknowledged: true, acknowledged_by: expect.any(String) });

    await s.http.delete(`/api/v1/health-checks/${check.id}`).set(s.auth()).expect(204);
    await s.flushAudit();
    const actions = (await s.db.query(`SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [check.id])).rows.map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['health_check_created', 'health_check_updated', 'health_check_acknowledged', 'health_check_deleted']));
  });

  it('answers 404 for an unknown id on every route and keeps viewers to reading', async () => {
    for (const [method, path] of [['get', ''], ['put', ''], ['delete', ''], ['get', '/history'], ['post', '/acknowledge']] as const) {
      const res = await s.http[method](`/api/v1/health-checks/hc-missing${path}`).set(s.auth()).send(method === 'get' || method === 'delete' ? undefined : {});
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe('HEALTH_CHECK_NOT_FOUND');
    }
    const viewer = await keyWithRole(s, 'viewer');
    expect((await s.http.get('/api/v1/health-checks').set(s.auth(viewer))).status).toBe(200);
    expect((await s.http.post('/api/v1/health-checks').set(s.auth(viewer)).send({ endpoint: '192.0.2.20:443', name: unique('x') })).status).toBe(403);
  });
});
