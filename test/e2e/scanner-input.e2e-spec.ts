import { createServer, Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { JobProducer } from '@certctl/db';
import { keyWithRole, post, unique } from '../support/fixtures';
import { ScannerHarness, startScanner } from '../support/scanner-harness';

/** Bad input to the discovery API, and the safety rules, with the production defaults (no loopback). */
describe('network scan targets: bad input and safety', () => {
  let s: ScannerHarness;

  beforeAll(async () => {
    s = await startScanner();
  });
  afterAll(async () => s?.close());

  const create = (body: Record<string, unknown>) =>
    s.http.post('/api/v1/network-scan-targets').set(s.auth()).send({ name: unique('net'), ...body });

  it.each([
    ['over the address cap', { cidrs: ['10.0.0.0/8'] }, 'SCAN_RANGE_OVER_CAP', 'cidrs[0]', /16777216 addresses, over the cap of 65536/],
    ['over the cap together', { cidrs: ['10.1.0.0/16', '10.2.0.0/24'] }, 'SCAN_RANGE_OVER_CAP', 'cidrs', /together, over the cap of 65536/],
    ['a malformed CIDR', { cidrs: ['10.0.0.0/24', '10.0.0/33'] }, 'VALIDATION_FAILED', 'cidrs[1]', /not an IPv4 CIDR/],
    ['loopback without the override', { cidrs: ['127.0.0.1'] }, 'SCAN_RANGE_RESERVED', 'cidrs[0]', /loopback \(127\.0\.0\.0\/8\)/],
    ['the metadata address', { cidrs: ['169.254.169.254/32'] }, 'SCAN_RANGE_RESERVED', 'cidrs[0]', /cloud metadata/],
    ['link-local', { cidrs: ['169.254.10.0/24'] }, 'SCAN_RANGE_RESERVED', 'cidrs[0]', /link-local/],
    ['multicast', { cidrs: ['239.1.1.0/24'] }, 'SCAN_RANGE_RESERVED', 'cidrs[0]', /multicast/],
    ['broadcast', { cidrs: ['255.255.255.255'] }, 'SCAN_RANGE_RESERVED', 'cidrs[0]', /broadcast/],
    ['IPv6', { cidrs: ['fd00::/120'] }, 'VALIDATION_FAILED', 'cidrs[0]', /only IPv4/],
  ])('refuses %s with 400 naming the field and the reason', async (_what, body, code, field, message) => {
    const res = await create(body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe(code);
    expect(res.body.message).toMatch(message);
    expect(res.body.details[0].field).toBe(field);
  });

  it.each([
    ['port 0', { ports: [0] }, 'ports', /must not be less than 1/],
    ['port 70000', { ports: [443, 70000] }, 'ports', /must not be greater than 65535/],
    ['33 ports', { ports: Array.from({ length: 33 }, (_, i) => 8000 + i) }, 'ports', /no more than 32/],
    ['no ports', { ports: [] }, 'ports', /at least 1/],
    ['a fractional port', { ports: [443.5] }, 'ports', /integer/],
    ['no CIDRs', { cidrs: [] }, 'cidrs', /at least 1/],
    ['a bad SNI name', { sni_hostnames: ['not a host'] }, 'sni_hostnames', /must match/],
    ['a zero interval', { scan_interval_hours: 0 }, 'scan_interval_hours', /not be less than 1/],
    ['an unknown field', { schedule: 'daily' }, 'schedule', /unknown field/],
  ])('refuses %s with 400 naming the field', async (_what, body, field, message) => {
    const res = await create({ cidrs: ['192.0.2.0/28'], ...body });
    expect(res.status).toBe(400);
    expect(res.body.details.map((d: any) => d.field)).toContain(field);
    expect(res.body.details.find((d: any) => d.field === field).message).toMatch(message);
  });

  it('takes RFC 1918 and documentation ranges with the defaults, checks CIDRs on update, and keeps viewers out', async () => {
    const t = await post(s, '/api/v1/network-scan-targets', { name: unique('lan'), cidrs: ['10.20.0.0/16', '192.168.1.7'] });
    expect(t).toMatchObject({ ports: [443], scan_interval_hours: 6, timeout_ms: 5000, enabled: true });
    expect(t).not.toHaveProperty('rate_limit_per_second'); // unset optional fields are omitted, as certctl does
    const res = await s.http.put(`/api/v1/network-scan-targets/${t.id}`).set(s.auth()).send({ cidrs: ['0.0.0.0/0'] });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('SCAN_RANGE_RESERVED');
    const viewer = await keyWithRole(s, 'viewer');
    await s.http.post('/api/v1/network-scan-targets').set(s.auth(viewer)).send({ name: unique('v'), cidrs: ['192.0.2.1'] }).expect(403);
    await s.http.post(`/api/v1/network-scan-targets/${t.id}/scan`).set(s.auth(viewer)).expect(403);
    await s.http.get('/api/v1/network-scan-targets').set(s.auth(viewer)).expect(200);
    await s.http.get('/api/v1/discovered-certificates?status=Lost').set(s.auth()).expect(400);
    await s.http.get('/api/v1/discovered-certificates?expires_before=yesterday').set(s.auth()).expect(400);
    await s.http.get('/api/v1/discovery-scans/dscan-nope').set(s.auth()).expect(404);
    await s.http.post('/api/v1/discovered-certificates/dcert-nope/dismiss').set(s.auth()).expect(404);
  });

  it('the scanner itself refuses a loopback scan that reached it, without opening a connection', async () => {
    let connections = 0;
    const listener: Server = createServer((socket) => { connections++; socket.destroy(); });
    const port = await freePort(); // this run's own port: another run may listen on 127.77.5.1 too
    await new Promise<void>((resolve) => listener.listen(port, '127.77.5.1', resolve));
    try {
      // as if a row had been written by an api configured differently from this scanner
      await s.db.query(`INSERT INTO discovery_scans (id, agent_id, source, status, directories, ports, timeout_ms)
        VALUES ('dscan-sneaky', 'server-scanner', 'network', 'Pending', '{127.77.5.1}', $1, 300)`, [[port]]);
      await s.scanners[0]!.get(JobProducer).enqueue('network-scan.run', { scanId: 'dscan-sneaky' }, 'dscan-sneaky');
      const scan = await s.waitForScan('dscan-sneaky', ['Failed']);
      expect(scan.last_error).toMatch(/loopback/);
      expect(connections).toBe(0);
    } finally {
      await new Promise((r) => listener.close(r));
    }
  });
});

