import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createTcpServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isProbeError, probeTls } from './tls-probe';

/** The probe against real sockets on 127.77.6.1 (loopback only). */
describe('probeTls', () => {
  const host = '127.77.6.1';
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  let certDer: Buffer;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'probe-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=probe.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    certDer = Buffer.from(cert.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const tls = createTlsServer({ cert, key: readFileSync(join(dir, 'key.pem')) });
    const silent = createTcpServer((s) => { sockets.add(s); s.on('error', () => undefined); });
    await Promise.all([[tls, 18443], [silent, 18444]].map(([server, port]) =>
      new Promise<void>((resolve) => (server as Server).listen(port as number, host, resolve))));
    servers.push(tls, silent);
  });
  afterAll(async () => {
    sockets.forEach((s) => s.destroy());
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  const options = { connectTimeoutMs: 1000, handshakeTimeoutMs: 300 };

  it('returns the presented certificate, verification off (self-signed is fine)', async () => {
    const result = await probeTls(host, 18443, options);
    expect(result.outcome).toBe('certificate');
    expect(result.chain).toEqual([certDer]);
  });

  it('reports a closed port as refused, which is not an error', async () => {
    const result = await probeTls(host, 18445, options);
    expect(result.outcome).toBe('refused');
    expect(isProbeError(result.outcome)).toBe(false);
  });

  it('times out a listener that never answers the handshake, within the handshake timeout', async () => {
    const started = Date.now();
    const result = await probeTls(host, 18444, options);
    expect(result).toMatchObject({ outcome: 'timeout', phase: 'handshake' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(isProbeError(result.outcome)).toBe(true);
  });

  it('sweeps first: a closed port never takes a handshake slot, an open one takes one and gives it back', async () => {
    const slots = { taken: 0, released: 0, async acquire() { this.taken++; }, release() { this.released++; } };
    expect((await probeTls(host, 18445, { ...options, handshakeSlots: slots })).outcome).toBe('refused');
    expect(slots).toMatchObject({ taken: 0, released: 0 });
    expect((await probeTls(host, 18443, { ...options, handshakeSlots: slots })).outcome).toBe('certificate');
    expect(slots).toMatchObject({ taken: 1, released: 1 });
    expect((await probeTls(host, 18444, { ...options, handshakeSlots: slots })).outcome).toBe('timeout');
    expect(slots).toMatchObject({ taken: 2, released: 2 });
  });

  it('starts the handshake timeout only once a slot is free, and gives back a slot granted after an abort', async () => {
    let grant!: () => void;
    const slots = { released: 0, acquire: () => new Promise<void>((r) => (grant = r)), release() { this.released++; } };
    const waiting = probeTls(host, 18443, { ...options, handshakeTimeoutMs: 300, handshakeSlots: slots });
    await vi.waitFor(() => expect(grant).toBeTypeOf('function'));
    setTimeout(() => grant(), 500); // longer than the handshake timeout
    expect((await waiting).outcome).toBe('certificate');
    expect(slots.released).toBe(1);

    const abort = new AbortController();
    grant = undefined!;
    const aborted = probeTls(host, 18443, { ...options, handshakeSlots: slots, signal: abort.signal });
    await vi.waitFor(() => expect(grant).toBeTypeOf('function'));
    abort.abort();
    expect((await aborted).outcome).toBe('aborted');
    grant();
    await vi.waitFor(() => expect(slots.released).toBe(2));
  });

  it('stops at once when the scan is aborted', async () => {
    const abort = new AbortController();
    const pending = probeTls(host, 18444, { ...options, handshakeTimeoutMs: 10_000, signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    expect((await pending).outcome).toBe('aborted');
  });
});
