import type { Server } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_REGISTRY } from '@certctl/observability';
import { freePort } from '@certctl/testing';
import { HealthCheckScheduler } from '../../apps/scanner/src/modules/health/health-check-scheduler.service';
import { createInventory, certificateBody, post, unique } from '../support/fixtures';
import { ScannerHarness, startScanner } from '../support/scanner-harness';
import { closeAll, Identity, startTlsListener, TestPki } from '../support/tls-fleet';

/**
 * Health checks probed by a real scanner against real TLS listeners on loopback: the state machine as a
 * listener stops and comes back, drift to another certificate, checks following deployments, and what each
 * status change leaves behind (history, audit, notifications, metrics).
 */
describe('health checks against real TLS listeners', () => {
  let s: ScannerHarness;
  let pki: TestPki;
  let identityA: Identity;
  let identityB: Identity;
  const servers: Server[] = [];

  beforeAll(async () => {
    s = await startScanner({
      CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_HEALTH_CHECK_MIN_INTERVAL: '1', CERTCTL_HEALTH_CHECK_INTERVAL: '200ms',
      CERTCTL_HEALTH_CHECK_DEFAULT_INTERVAL: '1', CERTCTL_HEALTH_CHECK_DEFAULT_TIMEOUT: '2000',
    });
    pki = await TestPki.create();
    identityA = await pki.leaf('a.health.test');
    identityB = await pki.leaf('b.health.test');
  });
  afterAll(async () => {
    await closeAll(servers);
    await s?.close();
  });

  const listen = async (port: number, identity: Identity) => {
    const server = await startTlsListener('127.0.0.1', port, identity);
    servers.push(server);
    return server as TlsServer;
  };
  const getCheck = async (id: string) => (await s.http.get(`/api/v1/health-checks/${id}`).set(s.auth()).expect(200)).body;
  /** Polls the check until `predicate` holds; returns it. */
  const waitForCheck = async (id: string, predicate: (c: Record<string, any>) => boolean, what: string, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    let check: Record<string, any> = {};
    while (Date.now() < deadline) {
      check = await getCheck(id);
      if (predicate(check)) return check;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect.fail(`check ${id} did not become ${what} within ${timeoutMs} ms (last: ${JSON.stringify(check)})`);
  };
  const notificationTypes = async (certificateId: string) =>
    (await s.db.query(`SELECT type FROM notification_events WHERE certificate_id = $1 ORDER BY created_at, id`, [certificateId])).rows.map((r) => r.type);

  it('goes healthy → degraded → down as its listener stops, and back to healthy when it returns; each change is audited, alerted and counted', async () => {
    const inv = await createInventory(s);
    const cert = await post(s, '/api/v1/certificates', certificateBody(inv));
    const port = await freePort();
    let server = await listen(port, identityA);
    const check = await post(s, '/api/v1/health-checks', {
      endpoint: `127.0.0.1:${port}`, expected_fingerprint: identityA.fingerprint, certificate_id: cert.id,
      check_interval_seconds: 1, degraded_threshold: 2, down_threshold: 3,
    });

    const healthy = await waitForCheck(check.id, (c) => c.status === 'healthy', 'healthy');
    expect(healthy).toMatchObject({
      observed_fingerprint: identityA.fingerprint, consecutive_failures: 0, tls_version: expect.stringMatching(/^TLSv1\.[23]$/),
      cert_subject: expect.stringContaining('CN=a.health.test'), cert_issuer: expect.stringContaining('Scanner Test Intermediate'),
      failure_reason: '',
    });
    expect(Date.parse(healthy.cert_expiry)).toBeGreaterThan(Date.now());
    await s.http.post(`/api/v1/health-checks/${check.id}/acknowledge`).set(s.auth()).send({}).expect(204);

    await closeAll([server]);
    const degraded = await waitForCheck(check.id, (c) => c.status !== 'healthy', 'not healthy');
    expect(degraded).toMatchObject({ status: 'degraded', consecutive_failures: 2, acknowledged: false, failure_reason: expect.stringMatching(/^refused/) });
    expect(degraded).not.toHaveProperty('acknowledged_by'); // a status change opens a new incident
    await waitForCheck(check.id, (c) => c.status === 'down', 'down');

    server = await listen(port, identityA);
    const back = await waitForCheck(check.id, (c) => c.status === 'healthy', 'healthy again');
    expect(back.consecutive_failures).toBe(0);

    expect(await notificationTypes(cert.id)).toEqual(expect.arrayContaining(['HealthCheckDegraded', 'HealthCheckDown', 'HealthCheckRecovered']));
    const transitions = (await s.db.query(
      `SELECT details->>'from' AS "from", details->>'to' AS "to" FROM audit_events
        WHERE action = 'health_check_status_changed' AND resource_id = $1 ORDER BY seq`, [check.id])).rows.map((r) => `${r.from}>${r.to}`);
    expect(transitions).toEqual(['unknown>healthy', 'healthy>degraded', 'degraded>down', 'down>healthy']);

    const history = (await s.http.get(`/api/v1/health-checks/${check.id}/history?limit=1000`).set(s.auth()).expect(200)).body as any[];
    expect(history.length).toBeGreaterThanOrEqual(5);
    expect(history[0].status).toBe('healthy'); // newest first
    expect(new Set(history.map((h) => h.status))).toEqual(new Set(['healthy', 'degraded', 'down']));

    const metrics = await (s.scanners[0]!.get(METRICS_REGISTRY) as Registry).metrics();
    expect(metrics).toMatch(/certctl_health_check_transitions_total\{from="healthy",to="degraded"[^}]*\} 1/);
    expect(metrics).toMatch(/certctl_health_check_transitions_total\{from="degraded",to="down"[^}]*\} 1/);
    expect(metrics).toMatch(/certctl_health_check_probe_duration_seconds_count\{[^}]*outcome="refused"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/certctl_health_check_status\{status="healthy"[^}]*\} [1-9]/);
  });

  it('becomes cert_mismatch within one interval when its listener switches to another certificate, and healthy when it switches back', async () => {
    const inv = await createInventory(s);
    const cert = await post(s, '/api/v1/certificates', certificateBody(inv));
    const port = await freePort();
    const server = await listen(port, identityA);
    const check = await post(s, '/api/v1/health-checks', {
      endpoint: `127.0.0.1:${port}`, expected_fingerprint: identityA.fingerprint, certificate_id: cert.id, check_interval_seconds: 2,
    });
    await waitForCheck(check.id, (c) => c.status === 'healthy', 'healthy');

    server.setSecureContext({ cert: identityB.chainPems.join(''), key: identityB.keyPem });
    const switchedAt = Date.now();
    const mismatch = await waitForCheck(check.id, (c) => c.status === 'cert_mismatch', 'cert_mismatch');
    // within one interval (2 s) of the switch, plus a tick and the write
    expect(Date.now() - switchedAt).toBeLessThan(2_000 + 1_500);
    expect(mismatch).toMatchObject({
      observed_fingerprint: identityB.fingerprint, expected_fingerprint: identityA.fingerprint,
      failure_reason: `served ${identityB.fingerprint}, expected ${identityA.fingerprint}`,
    });
    expect(await notificationTypes(cert.id)).toContain('HealthCheckCertMismatch');
    const alert = (await s.db.query(`SELECT message, details FROM notification_events WHERE certificate_id = $1 AND type = 'HealthCheckCertMismatch'`, [cert.id])).rows[0];
    expect(alert.message).toContain(identityB.fingerprint);
    expect(alert.details.severity).toBe('critical');

    server.setSecureContext({ cert: identityA.chainPems.join(''), key: identityA.keyPem });
    await waitForCheck(check.id, (c) => c.status === 'healthy', 'healthy again');
  });

  it('is created by a verified deployment, and its expected fingerprint follows the next deployment, so a host still serving the old certificate becomes cert_mismatch', async () => {
    const inv = await createInventory(s);
    const port = await freePort();
    await listen(port, identityA);
    const target = await post(s, '/api/v1/targets', {
      name: unique('edge'), type: 'File',
      config: { cert_path: '/tmp/certctl-health-unused.pem', post_deploy_verify: { enabled: true, endpoint: `127.0.0.1:${port}` } },
    });
    const cert = await post(s, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    // Versions and Deployment rows as the orchestrator writes them (the nginx e2e drives the real pipeline).
    const addVersion = (identity: Identity) => s.db.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain)
       VALUES ($1, $2, $3, now() - interval '1 day', now() + interval '30 days', $4, $5)`,
      [unique('certver'), cert.id, unique('serial'), identity.fingerprint, identity.chainPems.join('')]);
    const deployment = async (verifiedFingerprint: string | null) => {
      const id = unique('job');
      await s.db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, status) VALUES ($1, 'Deployment', $2, $3, 'Running')`, [id, cert.id, target.id]);
      await s.db.query(
        `UPDATE jobs SET status = 'Completed', completed_at = now(), verification_status = $2, verification_fingerprint = $3, verified_at = now() WHERE id = $1`,
        [id, verifiedFingerprint ? 'success' : 'skipped', verifiedFingerprint]);
    };

    await addVersion(identityA);
    await deployment(identityA.fingerprint);
    const created = (await s.http.get(`/api/v1/health-checks?certificate_id=${cert.id}`).set(s.auth()).expect(200)).body;
    expect(created.total).toBe(1);
    const check = created.data[0];
    expect(check).toMatchObject({
      endpoint: `127.0.0.1:${port}`, target_id: target.id, certificate_id: cert.id, expected_fingerprint: identityA.fingerprint,
      auto_created: true, check_interval_seconds: 1, timeout_ms: 2000,
    });
    await s.flushAudit();
    expect((await s.db.query(`SELECT actor FROM audit_events WHERE action = 'health_check_created' AND resource_id = $1`, [check.id])).rows)
      .toEqual([{ actor: 'system' }]);
    await waitForCheck(check.id, (c) => c.status === 'healthy', 'healthy');

    // A renewal completes (no verification) but the host keeps serving the old certificate.
    await new Promise((r) => setTimeout(r, 20)); // the new version is strictly newer
    await addVersion(identityB);
    await deployment(null);
    expect((await getCheck(check.id)).expected_fingerprint).toBe(identityB.fingerprint);
    const movedAt = Date.now();
    const drift = await waitForCheck(check.id, (c) => c.status === 'cert_mismatch', 'cert_mismatch');
    expect(Date.now() - movedAt).toBeLessThan(1_000 + 1_500);
    expect(drift.observed_fingerprint).toBe(identityA.fingerprint);

    // A second verified deployment of the same endpoint updates the one check rather than adding another.
    await deployment(identityB.fingerprint);
    expect((await s.http.get(`/api/v1/health-checks?certificate_id=${cert.id}`).set(s.auth()).expect(200)).body.total).toBe(1);
  });

  it('does not probe a disabled check, and purges history older than the retention', async () => {
    const port = await freePort();
    await listen(port, identityA);
    const check = await post(s, '/api/v1/health-checks', { endpoint: `127.0.0.1:${port}`, check_interval_seconds: 1, enabled: false });
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await getCheck(check.id)).status).toBe('unknown');
    expect((await s.db.query('SELECT count(*)::int AS n FROM endpoint_health_history WHERE health_check_id = $1', [check.id])).rows[0].n).toBe(0);

    await s.db.query(
      `INSERT INTO endpoint_health_history (health_check_id, status, checked_at) VALUES ($1, 'healthy', now() - interval '31 days'), ($1, 'healthy', now())`, [check.id]);
    expect(await s.scanners[0]!.get(HealthCheckScheduler).purgeHistory(true)).toBe(1);
    expect((await s.db.query('SELECT count(*)::int AS n FROM endpoint_health_history WHERE health_check_id = $1', [check.id])).rows[0].n).toBe(1);
  });
});
