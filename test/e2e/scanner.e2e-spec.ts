import type { Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '@certctl/testing';
import { NetworkScanService } from '../../apps/scanner/src/modules/scan/network-scan.service';
import { ScanScheduleService } from '../../apps/scanner/src/modules/scan/scan-schedule.service';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';
import { ScannerHarness, startScanner } from '../support/scanner-harness';
import { closeAll, Identity, startSilentListener, startTlsListener, TestPki } from '../support/tls-fleet';

/**
 * The scanner against real TLS listeners on 127.77.1.0/24 (loopback only; this file's own addresses, on ports
 * chosen per run so that two runs on one machine do not collide):
 * self-signed, chained, expired, expiring, several ports, SNI, a silent listener and closed ports.
 * Two scanner replicas share every scan; shards are 4 addresses each.
 */
describe('network scanner', () => {
  let s: ScannerHarness;
  let pki: TestPki;
  const servers: Server[] = [];
  const id: Record<string, Identity> = {};
  const NET = '127.77.1';
  // This run's own ports (two runs on one machine share the loopback addresses, never the ports).
  let P1 = 0;
  let P2 = 0;

  beforeAll(async () => {
    P1 = await freePort();
    do P2 = await freePort(); while (P2 === P1);
    s = await startScanner({ CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_NETWORK_SCAN_SHARD_SIZE: '4' }, 2);
    pki = await TestPki.create();
    id.self = await TestPki.selfSigned('self.scan.test');
    id.chained = await pki.leaf('chained.scan.test');
    id.otherPort = await pki.leaf('port9443.scan.test');
    id.expired = await pki.leaf('expired.scan.test', -60, -2);
    id.expiring = await pki.leaf('expiring.scan.test', -30, 5);
    id.sniDefault = await pki.leaf('default.sni.test');
    id.sniA = await pki.leaf('a.sni.test');
    id.sniB = await pki.leaf('b.sni.test');
    servers.push(
      await startTlsListener(`${NET}.1`, P1, id.self),
      await startTlsListener(`${NET}.2`, P1, id.chained),
      await startTlsListener(`${NET}.2`, P2, id.otherPort),
      await startTlsListener(`${NET}.3`, P1, id.expired),
      await startTlsListener(`${NET}.4`, P1, id.expiring),
      await startSilentListener(`${NET}.5`, P1),
      await startTlsListener(`${NET}.6`, P1, id.sniDefault, { 'a.sni.test': id.sniA, 'b.sni.test': id.sniB }),
    );
  });
  afterAll(async () => {
    await closeAll(servers);
    await s?.close();
  });

  const target = (body: Record<string, unknown>) => post(s, '/api/v1/network-scan-targets', { name: unique('net'), ...body });
  const scanNow = async (targetId: string) =>
    (await s.http.post(`/api/v1/network-scan-targets/${targetId}/scan`).set(s.auth()).expect(202)).body.scan_id as string;
  const discovered = async (query: string) =>
    (await s.http.get(`/api/v1/discovered-certificates?per_page=500&${query}`).set(s.auth()).expect(200)).body;

  it('finds every live certificate with its fingerprint, chain and ip:port; timeouts are errors, closed ports are not', async () => {
    const t = await target({ cidrs: [`${NET}.0/28`], ports: [P1, P2], timeout_ms: 400 });
    expect(t).toMatchObject({ ports: [P1, P2], scan_interval_hours: 6, enabled: true, sni_hostnames: [] });
    const started = Date.now();
    const scanId = await scanNow(t.id);
    const scan = await s.waitForScan(scanId);
    const elapsed = Date.now() - started;

    expect(scan).toMatchObject({
      status: 'Completed', agent_id: 'server-scanner', source: 'network', directories: [`${NET}.0/28`],
      addresses_total: 14, addresses_done: 14, shards_total: 4, shards_done: 4, certificates_found: 6, certificates_new: 6,
      errors_count: 1, progress_percent: 100, eta_seconds: 0,
    });
    expect(scan.error_summary).toMatchObject({ timeout: 1, refused: 28 - 7 });
    expect(scan.shard_progress).toBeUndefined();
    expect(elapsed).toBeLessThan(5_000); // the silent listener cost one 400 ms timeout, not a hang

    const { data, total } = await discovered(`discovery_scan_id=${scanId}`);
    expect(total).toBe(6);
    const at = (path: string) => data.find((d: any) => d.source_path === path);
    expect(at(`${NET}.1:${P1}`)).toMatchObject({ fingerprint_sha256: id.self.fingerprint, common_name: 'self.scan.test', chain_length: 1, status: 'Unmanaged', source_format: 'network', agent_id: 'server-scanner' });
    expect(at(`${NET}.2:${P1}`)).toMatchObject({ fingerprint_sha256: id.chained.fingerprint, chain_length: 2, issuer_dn: 'CN=Scanner Test Intermediate', sans: ['chained.scan.test'] });
    expect(at(`${NET}.2:${P1}`).pem_chain).toBe(id.chained.chainPems.join(''));
    expect(at(`${NET}.2:${P2}`).fingerprint_sha256).toBe(id.otherPort.fingerprint);
    expect(at(`${NET}.3:${P1}`)).toMatchObject({ fingerprint_sha256: id.expired.fingerprint });
    expect(Date.parse(at(`${NET}.3:${P1}`).not_after)).toBeLessThan(Date.now());
    expect(at(`${NET}.4:${P1}`).fingerprint_sha256).toBe(id.expiring.fingerprint);
    expect(at(`${NET}.6:${P1}`).fingerprint_sha256).toBe(id.sniDefault.fingerprint);
    expect(at(`${NET}.5:${P1}`)).toBeUndefined();

    const after = (await s.http.get(`/api/v1/network-scan-targets/${t.id}`).set(s.auth())).body;
    expect(after).toMatchObject({ last_scan_certs_found: 6 });
    expect(Date.parse(after.next_scan_at) - Date.now()).toBeGreaterThan(5.9 * 3_600_000);

    // the expired and the expiring certificate raised one alert each, naming where they were found
    const alerts = (await s.db.query(`SELECT message FROM notification_events WHERE type = 'ExpirationWarning' ORDER BY message`)).rows;
    expect(alerts.map((a) => a.message)).toEqual(expect.arrayContaining([
      expect.stringContaining(`at ${NET}.3:${P1} expired`), expect.stringContaining(`at ${NET}.4:${P1} expires`),
    ]));
    const alertCount = alerts.length;

    // a rescan bumps last_seen_at, creates no duplicates, and raises no new alerts
    const firstSeen = at(`${NET}.1:${P1}`);
    const rescanId = await scanNow(t.id);
    expect(await s.waitForScan(rescanId)).toMatchObject({ certificates_found: 6, certificates_new: 0 });
    const again = await discovered(`source=${NET}.`);
    expect(again.total).toBe(6);
    const row = again.data.find((d: any) => d.id === firstSeen.id);
    expect(row.first_seen_at).toBe(firstSeen.first_seen_at);
    expect(Date.parse(row.last_seen_at)).toBeGreaterThan(Date.parse(firstSeen.last_seen_at));
    expect((await s.db.query(`SELECT count(*)::int AS n FROM notification_events WHERE type = 'ExpirationWarning'`)).rows[0].n).toBe(alertCount);
    await s.flushAudit();
    const audit = (await s.db.query(`SELECT actor, action FROM audit_events WHERE resource_id = $1`, [scanId])).rows;
    expect(audit).toEqual([{ actor: 'server-scanner', action: 'discovery_scan_completed' }]);
  });

  it('sends each SNI name and records the certificate served for it', async () => {
    const t = await target({ cidrs: [`${NET}.6`], ports: [P1], sni_hostnames: ['a.sni.test', 'b.sni.test'], timeout_ms: 400 });
    const scan = await s.waitForScan(await scanNow(t.id));
    expect(scan).toMatchObject({ addresses_total: 1, certificates_found: 2 });
    const { data } = await discovered(`source=${NET}.6:${P1}`);
    expect(data.map((d: any) => d.fingerprint_sha256)).toEqual(expect.arrayContaining([id.sniA.fingerprint, id.sniB.fingerprint]));
  });

  it('filters, claims and dismisses; links a managed certificate by fingerprint and flags an endpoint serving another', async () => {
    const byIssuer = await discovered('issuer=Intermediate&status=Unmanaged');
    expect(byIssuer.data.every((d: any) => d.issuer_dn.includes('Intermediate'))).toBe(true);
    const expiring = await discovered(`expires_before=${new Date(Date.now() + 10 * 86_400_000).toISOString()}`);
    expect(expiring.data.map((d: any) => d.common_name).sort()).toEqual(['expired.scan.test', 'expiring.scan.test']);
    expect((await discovered('search=self.scan')).data.map((d: any) => d.source_path)).toEqual([`${NET}.1:${P1}`]);

    const inv = await createInventory(s);
    const managed = await post(s, '/api/v1/certificates', certificateBody(inv));
    const self = (await discovered(`source=${NET}.1:${P1}`)).data[0];
    const unknownClaim = await s.http.post(`/api/v1/discovered-certificates/${self.id}/claim`).set(s.auth()).send({ managed_certificate_id: 'mc-nope' });
    expect(unknownClaim.status).toBe(400);
    expect(unknownClaim.body.details).toEqual([{ field: 'managed_certificate_id', message: 'mc-nope does not exist' }]);
    const claimed = await s.http.post(`/api/v1/discovered-certificates/${self.id}/claim`).set(s.auth()).send({ managed_certificate_id: managed.id }).expect(200);
    expect(claimed.body).toMatchObject({ status: 'Managed', managed_certificate_id: managed.id });
    const expired = (await discovered(`source=${NET}.3:${P1}`)).data[0];
    const dismissed = await s.http.post(`/api/v1/discovered-certificates/${expired.id}/dismiss`).set(s.auth()).expect(200);
    expect(dismissed.body.status).toBe('Dismissed');
    expect(dismissed.body.dismissed_at).toBeTruthy();

    // the certificate on .2 (second port) is a version of a managed certificate: the next scan links it
    await s.db.query(`INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain)
      VALUES ('certver-scan-1', $1, '01', now(), now() + interval '30 days', $2, $3)`, [managed.id, id.otherPort.fingerprint, id.otherPort.certPem]);
    const t = await target({ cidrs: [`${NET}.1`, `${NET}.2`], ports: [P1, P2], timeout_ms: 400 });
    await s.waitForScan(await scanNow(t.id));
    expect((await discovered(`source=${NET}.2:${P2}`)).data[0]).toMatchObject({ status: 'Managed', managed_certificate_id: managed.id });

    // then .1 (first port, claimed for that managed certificate) starts serving something else: flagged
    const imposter = await pki.leaf('imposter.scan.test');
    await closeAll([servers[0]!]);
    servers[0] = await startTlsListener(`${NET}.1`, P1, imposter);
    await s.waitForScan(await scanNow(t.id));
    const flagged = await discovered('mismatched=true');
    expect(flagged.data).toHaveLength(1);
    expect(flagged.data[0]).toMatchObject({ source_path: `${NET}.1:${P1}`, fingerprint_sha256: imposter.fingerprint, mismatched_certificate_id: managed.id, status: 'Unmanaged' });

    const summary = (await s.http.get('/api/v1/discovery-summary').set(s.auth()).expect(200)).body;
    expect(summary).toMatchObject({ Managed: 2, Dismissed: 1, managed: 2, dismissed: 1, mismatched: 1, scans_running: 0 }); // certctl's flat map
    expect(summary.total).toBe(summary.unmanaged + summary.managed + summary.dismissed);
  });

  it('refuses a second scan of a running target, cancels, and stops probing', async () => {
    // 1,022 addresses at 40 connections/s: about 25 s if nobody stops it
    const t = await target({ cidrs: ['127.77.8.0/22'], ports: [P1], timeout_ms: 300, rate_limit_per_second: 40 });
    const scanId = await scanNow(t.id);
    const running = await s.waitForScan(scanId, ['Running']);
    expect(running.addresses_total).toBe(1022);
    const second = await s.http.post(`/api/v1/network-scan-targets/${t.id}/scan`).set(s.auth());
    expect(second.status).toBe(409);
    expect(second.body.code).toBe('SCAN_IN_PROGRESS');
    expect(second.body.message).toContain(scanId);
    await new Promise((r) => setTimeout(r, 1_200));
    const mid = (await s.http.get(`/api/v1/discovery-scans/${scanId}`).set(s.auth())).body;
    expect(mid.addresses_done).toBeGreaterThan(0);
    expect(mid.addresses_done).toBeLessThan(1022);
    expect(mid.eta_seconds).toBeGreaterThan(5); // rate-limited: dozens of seconds to go

    const cancelled = await s.http.post(`/api/v1/discovery-scans/${scanId}/cancel`).set(s.auth()).expect(200);
    expect(cancelled.body.status).toBe('Cancelled');
    await new Promise((r) => setTimeout(r, 800)); // shards notice within one progress interval
    const settled = (await s.db.query(`SELECT addresses_done, updated_at FROM discovery_scans WHERE id = $1`, [scanId])).rows[0];
    await new Promise((r) => setTimeout(r, 1_500));
    const later = (await s.db.query(`SELECT addresses_done, updated_at, status FROM discovery_scans WHERE id = $1`, [scanId])).rows[0];
    expect(later).toEqual({ ...settled, status: 'Cancelled' });
    expect(later.addresses_done).toBeLessThan(200);
    await s.http.post(`/api/v1/discovery-scans/${scanId}/cancel`).set(s.auth()).expect(409);
    // the target is free again
    const next = await scanNow(t.id);
    await s.http.post(`/api/v1/discovery-scans/${next}/cancel`).set(s.auth()).expect(200);
  });

  it('holds a scan to its rate limit across replicas', async () => {
    // 30 closed addresses at 10 connections/s: at least two seconds however many shards and replicas run it
    const t = await target({ cidrs: ['127.77.9.0/27'], ports: [P1], timeout_ms: 300, rate_limit_per_second: 10 });
    const scan = await s.waitForScan(await scanNow(t.id));
    expect(scan.addresses_done).toBe(30);
    expect(scan.scan_duration_ms).toBeGreaterThanOrEqual(2_500);
  });

  it('refuses to scan a disabled target (409)', async () => {
    const t = await target({ cidrs: [`${NET}.1`], enabled: false });
    const res = await s.http.post(`/api/v1/network-scan-targets/${t.id}/scan`).set(s.auth());
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('TARGET_DISABLED');
  });

  it('scans each enabled target on its own interval, never twice at once', async () => {
    await s.db.query(`UPDATE network_scan_targets SET enabled = false`);
    const hourly = await target({ cidrs: [`${NET}.2`], timeout_ms: 300, scan_interval_hours: 1 });
    const daily = await target({ cidrs: [`${NET}.4`], timeout_ms: 300, scan_interval_hours: 24 });
    const schedule = s.scanners[0]!.get(ScanScheduleService);
    const first = await schedule.due();
    expect(first).toHaveLength(2);
    expect(await schedule.due()).toEqual([]); // both are scanning, and neither is due again yet
    await Promise.all(first.map((scanId) => s.waitForScan(scanId)));
    const next = (await s.db.query(`SELECT id, next_scan_at - now() AS wait FROM network_scan_targets WHERE id = ANY($1)`, [[hourly.id, daily.id]])).rows;
    const hours = Object.fromEntries(next.map((r) => [r.id, r.wait.hours ?? 0]));
    expect(hours[hourly.id]).toBe(0); // 59 minutes and some
    expect(hours[daily.id]).toBe(23);

    // an hour later only the hourly target is due
    await s.db.query(`UPDATE network_scan_targets SET next_scan_at = next_scan_at - interval '1 hour'`);
    const second = await schedule.due();
    expect(second).toHaveLength(1);
    const row = (await s.db.query(`SELECT network_scan_target_id FROM discovery_scans WHERE id = $1`, [second[0]])).rows[0];
    expect(row.network_scan_target_id).toBe(hourly.id);
    await s.waitForScan(second[0]!);

    // a scan row whose run job never reached Redis is picked up by the next tick
    await s.db.query(`UPDATE network_scan_targets SET enabled = false`);
    await s.db.query(`INSERT INTO discovery_scans (id, agent_id, network_scan_target_id, source, status, directories, ports, timeout_ms, created_at)
      VALUES ('dscan-orphan', 'server-scanner', $1, 'network', 'Pending', $2, '{${P1}}', 300, now() - interval '1 minute')`, [daily.id, [`${NET}.4`]]);
    expect(await schedule.due()).toEqual([]);
    expect(await s.waitForScan('dscan-orphan')).toMatchObject({ certificates_found: 1 });
  });

  it('a retried shard replaces its own progress instead of adding to it', async () => {
    const t = await target({ cidrs: [`${NET}.0/29`], ports: [P1], timeout_ms: 300, enabled: false });
    // a Running scan planned by hand, with no queue jobs: the shards are run directly, the first one twice
    await s.db.query(`INSERT INTO discovery_scans (id, agent_id, network_scan_target_id, source, status, directories, ports, timeout_ms, addresses_total, shards_total, started_at)
      VALUES ('dscan-retry', 'server-scanner', $1, 'network', 'Running', $2, '{${P1}}', 300, 6, 2, now())`, [t.id, [`${NET}.0/29`]]);
    const scans = s.scanners[1]!.get(NetworkScanService);
    await scans.runShard({ scanId: 'dscan-retry', shardIndex: 0 });
    await s.db.query(`UPDATE discovery_scans SET shard_progress = jsonb_set(shard_progress, '{0,complete}', 'false'), shards_done = 0 WHERE id = 'dscan-retry'`);
    await scans.runShard({ scanId: 'dscan-retry', shardIndex: 0 }); // the retry
    let row = (await s.db.query(`SELECT * FROM discovery_scans WHERE id = 'dscan-retry'`)).rows[0];
    expect(row).toMatchObject({ status: 'Running', addresses_done: 4, shards_done: 1, certificates_found: 4, errors_count: 0 });
    await scans.runShard({ scanId: 'dscan-retry', shardIndex: 1 });
    row = (await s.db.query(`SELECT * FROM discovery_scans WHERE id = 'dscan-retry'`)).rows[0];
    expect(row).toMatchObject({ status: 'Completed', addresses_done: 6, shards_done: 2, certificates_found: 5, errors_count: 1 });
  });

  it('retries a failed shard alone, through the queue (after the scan queue\'s 10 s backoff)', async () => {
    const calls: number[] = [];
    const spies = s.scanners.map((app) => {
      const service = app.get(NetworkScanService);
      const original = service.runShard.bind(service);
      return vi.spyOn(service, 'runShard').mockImplementation(async (data) => {
        calls.push(data.shardIndex);
        if (data.shardIndex === 1 && calls.filter((i) => i === 1).length === 1) throw new Error('simulated crash of shard 1');
        return original(data);
      });
    });
    try {
      const t = await target({ cidrs: [`${NET}.0/28`], ports: [P1], timeout_ms: 400 });
      const scan = await s.waitForScan(await scanNow(t.id), ['Completed'], 30_000);
      expect(scan).toMatchObject({ addresses_done: 14, shards_total: 4, shards_done: 4, certificates_found: 5, errors_count: 1 });
      expect([...calls].sort()).toEqual([0, 1, 1, 2, 3]);
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
  }, 40_000);

  it('records an agent filesystem report through the same pipeline, for its own agent only', async () => {
    const agent = await post(s, '/api/v1/agents', { name: unique('host') });
    const other = await post(s, '/api/v1/agents', { name: unique('host') });
    const leaf = await pki.leaf('file.scan.test');
    const report = {
      agent_id: agent.id, directories: ['/etc/ssl'], errors: ['/etc/ssl/broken.pem: unreadable'], scan_duration_ms: 12,
      certificates: [{ pem_data: leaf.chainPems.join(''), source_path: '/etc/ssl/file.pem', source_format: 'PEM', fingerprint_sha256: 'ignored' }],
    };
    await s.http.post(`/api/v1/agents/${agent.id}/discoveries`).set(s.auth(other.api_key)).send(report).expect(403);
    const res = await s.http.post(`/api/v1/agents/${agent.id}/discoveries`).set(s.auth(agent.api_key)).send(report);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ source: 'agent', status: 'Completed', agent_id: agent.id, certificates_found: 1, certificates_new: 1, errors_count: 1, directories: ['/etc/ssl'] });
    const row = (await discovered(`agent_id=${agent.id}`)).data[0];
    expect(row).toMatchObject({ fingerprint_sha256: leaf.fingerprint, source_path: '/etc/ssl/file.pem', source_format: 'PEM', chain_length: 2, status: 'Unmanaged' });
    const bad = await s.http.post(`/api/v1/agents/${agent.id}/discoveries`).set(s.auth(agent.api_key))
      .send({ certificates: [{ pem_data: 'nope', source_path: '/x' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe('certificates[0].pem_data');
  });

  it('a scanner that shuts down hands its running shards to the other replica', async () => {
    // 30 addresses (8 shards of 4) at 10 connections/s: about 3 s of work
    const t = await target({ cidrs: ['127.77.10.0/27'], ports: [P1], timeout_ms: 300, rate_limit_per_second: 10 });
    const scanId = await scanNow(t.id);
    await s.waitForScan(scanId, ['Running']);
    let owner = '';
    while (!owner) {
      const row = (await s.db.query(`SELECT shard_progress FROM discovery_scans WHERE id = $1`, [scanId])).rows[0];
      owner = row.shard_progress['0']?.replica ?? '';
      await new Promise((r) => setTimeout(r, 50));
    }
    const leaving = s.scanners.findIndex((app) => app.get(NetworkScanService).replica === owner);
    const started = Date.now();
    await s.scanners[leaving]!.close();
    expect(Date.now() - started).toBeLessThan(2_000); // did not wait for the shard to finish
    s.scanners.splice(leaving, 1);
    const staying = s.scanners[0]!;
    const scan = await s.waitForScan(scanId, ['Completed'], 30_000); // after the 10 s retry backoff
    expect(scan).toMatchObject({ addresses_done: 30, shards_done: 8, errors_count: 0 });
    const row = (await s.db.query(`SELECT shard_progress FROM discovery_scans WHERE id = $1`, [scanId])).rows[0];
    expect(row.shard_progress['0'].replica).toBe(staying.get(NetworkScanService).replica);
  }, 40_000);
});
