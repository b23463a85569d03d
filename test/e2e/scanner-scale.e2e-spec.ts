import type { Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { post, unique } from '../support/fixtures';
import { ScannerHarness, startScanner } from '../support/scanner-harness';
import { closeAll, startTlsListener, TestPki } from '../support/tls-fleet';

const LISTENERS = 250;

/**
 * A /22 of loopback space (1,022 addresses) with 250 live TLS listeners spread over it, scanned end to end
 * through the API, the queue and two scanner replicas sharing 4 shards.
 */
describe('network scanner at scale', () => {
  let s: ScannerHarness;
  const servers: Server[] = [];
  let port = 0;
  const expected = new Map<string, string>();

  beforeAll(async () => {
    // one shard at a time per replica, so both replicas must take part
    s = await startScanner({ CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_NETWORK_SCAN_SHARD_CONCURRENCY: '1' }, 2);
    const pki = await TestPki.create();
    port = await freePort(); // this run's own port on the shared loopback addresses
    for (let i = 0; i < LISTENERS; i++) {
      // every fourth address, across all four /24s
      const address = `127.77.${16 + Math.floor((i * 4 + 1) / 256)}.${(i * 4 + 1) % 256}`;
      const identity = await pki.leaf(`host${i}.scale.test`);
      servers.push(await startTlsListener(address, port, identity));
      expected.set(`${address}:${port}`, identity.fingerprint);
    }
  });
  afterAll(async () => {
    await closeAll(servers);
    await s?.close();
  });

  it('finds every listener with the right fingerprint, sharing the shards between replicas', async () => {
    const t = await post(s, '/api/v1/network-scan-targets', { name: unique('scale'), cidrs: ['127.77.16.0/22'], ports: [port], timeout_ms: 3000 });
    const scanId = (await s.http.post(`/api/v1/network-scan-targets/${t.id}/scan`).set(s.auth()).expect(202)).body.scan_id;
    const scan = await s.waitForScan(scanId, ['Completed'], 30_000);
    // the listeners share this process with both scanners: handshakes queue behind each other, hence 3 s timeouts
    expect(scan, JSON.stringify(scan.error_summary)).toMatchObject({ addresses_total: 1022, addresses_done: 1022, shards_total: 4, certificates_found: LISTENERS, errors_count: 0 });
    const found = new Map<string, string>();
    for (let page = 1; found.size < LISTENERS && page < 5; page++) {
      const body = (await s.http.get(`/api/v1/discovered-certificates?discovery_scan_id=${scanId}&per_page=100&page=${page}`).set(s.auth())).body;
      for (const d of body.data) found.set(d.source_path, d.fingerprint_sha256);
    }
    expect(found).toEqual(expected);
    const shards = (await s.db.query(`SELECT shard_progress FROM discovery_scans WHERE id = $1`, [scanId])).rows[0].shard_progress;
    expect(new Set(Object.values(shards).map((p: any) => p.replica)).size).toBe(2);
    // far from a hard limit, but a regression to serial probing would fail it: at least 200 addresses/s
    expect(1022 / (scan.scan_duration_ms / 1000)).toBeGreaterThan(200);
  });
});
