import type { Server } from 'node:net';
import type { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DiscoveryPipeline } from '@certctl/db';
import { METRICS_REGISTRY } from '@certctl/observability';
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

  it('writes findings in batches, and a replica stopped mid-shard has written every certificate it found', async () => {
    const leaving = s.scanners[0]!;
    const spies = s.scanners.map((app) => vi.spyOn(app.get(DiscoveryPipeline), 'ingest')); // the real ingest, watched
    const probes = (leaving.get(METRICS_REGISTRY) as Registry).getSingleMetric('certctl_scan_probes_total') as Counter<'outcome'>;
    const certificatesSoFar = async () => (await probes.get()).values.find((v) => v.labels.outcome === 'certificate')?.value ?? 0;
    const before = await certificatesSoFar();
    // 200 connections/s: about five seconds for the /22, so the replica is stopped in the middle of a shard
    const t = await post(s, '/api/v1/network-scan-targets', { name: unique('scale-stop'), cidrs: ['127.77.16.0/22'], ports: [port], timeout_ms: 3000, rate_limit_per_second: 200 });
    const scanId = (await s.http.post(`/api/v1/network-scan-targets/${t.id}/scan`).set(s.auth()).expect(202)).body.scan_id;
    await vi.waitFor(async () => expect(await certificatesSoFar()).toBeGreaterThan(before + 5), { timeout: 20_000, interval: 20 });
    await leaving.close();
    s.scanners.splice(s.scanners.indexOf(leaving), 1);
    const foundByLeaving = (await certificatesSoFar()) - before;
    const handedOver = new Set(spies[0]!.mock.calls.flatMap(([, , items]) => items.map((i) => i.source_path)));
    expect(handedOver.size).toBe(foundByLeaving); // nothing found was dropped on the way out
    const stored = new Set((await s.db.query(`SELECT source_path FROM discovered_certificates WHERE discovery_scan_id = $1`, [scanId])).rows.map((r) => r.source_path));
    for (const endpoint of handedOver) expect(stored.has(endpoint), endpoint).toBe(true);

    const scan = await s.waitForScan(scanId, ['Completed'], 40_000); // the stopped shard is retried after the 10 s backoff
    expect(scan).toMatchObject({ addresses_done: 1022, certificates_found: LISTENERS, errors_count: 0 });
    const batches = spies.flatMap((spy) => spy.mock.calls.map(([, , items]) => items.length));
    expect(batches.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(LISTENERS);
    expect(batches.length).toBeLessThan(LISTENERS / 5); // a handful of multi-row writes, not one per finding
  }, 70_000);
});
