import type { AddressInfo } from 'node:net';
import { createServer, Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUTBOUND_POLICY, setOutboundPolicy } from '../../config/src/outbound-url';
import { TestCa } from './testing/material';
import { leafFingerprint, VerificationMismatch, verifyServedCertificate } from './verify';

/**
 * The post-deploy TLS check dials under the process's outbound policy at connect time, not only when the target
 * was saved: a target stored while loopback was allowed (or by an agent) is refused by a server that does not
 * allow it, at once (a refusal is not retried) and without a connection.
 */
describe('post-deploy verification under the outbound policy', () => {
  let server: Server;
  let port: number;
  let fingerprint: string;
  let connections = 0;

  beforeAll(async () => {
    const ca = await TestCa.create();
    const served = await ca.issue();
    fingerprint = leafFingerprint(served.certPem);
    server = createServer({ cert: served.certPem + served.chainPem, key: served.keyPem! }, (socket) => socket.end());
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    setOutboundPolicy(DEFAULT_OUTBOUND_POLICY);
    server?.close();
  });

  it('refuses a loopback endpoint when loopback is not allowed, without connecting or retrying', async () => {
    setOutboundPolicy(DEFAULT_OUTBOUND_POLICY);
    const started = Date.now();
    for (const host of ['127.0.0.1', '::ffff:127.0.0.1', '2130706433', 'localhost']) {
      const err = await verifyServedCertificate({ host, port, expectedFingerprint: fingerprint, attempts: 3, initialBackoffMs: 1_000 }).catch((e: unknown) => e);
      expect(err, host).toBeInstanceOf(VerificationMismatch);
      expect((err as Error).message, host).toMatch(/refused by the outbound policy: .*loopback/);
    }
    expect(connections).toBe(0);
    expect(Date.now() - started).toBeLessThan(1_000); // no backoff between attempts
  });

  it('always refuses the metadata address', async () => {
    setOutboundPolicy({ ...DEFAULT_OUTBOUND_POLICY, allowLoopback: true });
    const err = await verifyServedCertificate({ host: '169.254.169.254', port: 443, expectedFingerprint: fingerprint, attempts: 1 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cloud metadata/);
  });

  it('connects when the policy allows the address', async () => {
    setOutboundPolicy({ ...DEFAULT_OUTBOUND_POLICY, allowLoopback: true });
    await expect(verifyServedCertificate({ host: '127.0.0.1', port, expectedFingerprint: fingerprint })).resolves.toBe(fingerprint);
    expect(connections).toBe(1);
  });
});
