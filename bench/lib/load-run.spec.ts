import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoadJob } from './load-run';
import type { LoadJob } from './load-generator';

/** A real node:http server that counts the TCP connections it accepts and answers 200 (or 503 on /fail). */
async function countingServer(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    if (req.url === '/fail') return void res.writeHead(503).end('no');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.writeHead(200).end(`${req.url} ${Buffer.concat(chunks).length}`));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise((done) => server?.close(done));
  server = undefined;
});

const job = (port: number, overrides: Partial<LoadJob>): LoadJob => ({
  host: '127.0.0.1', port, headers: {}, requests: [{ method: 'GET', path: '/a' }, { method: 'GET', path: '/b' }], connections: 4,
  durationMs: 300, keepAlive: true, sampleEvery: 0, maxSamples: 0, ...overrides,
});

describe('runLoadJob (the load generator process\'s loop)', () => {
  it('opens one TCP connection per request when keep-alive is off, as TLS clients fetching OCSP do', async () => {
    const s = await countingServer();
    server = s.server;
    const result = await runLoadJob(job(s.port, { keepAlive: false }));
    expect(result.ok).toBeGreaterThan(10);
    expect(result.errors + result.non2xx).toBe(0);
    expect(s.connections()).toBe(result.requests);
  });

  it('reuses one socket per worker with keep-alive', async () => {
    const s = await countingServer();
    server = s.server;
    const result = await runLoadJob(job(s.port, { keepAlive: true }));
    expect(result.ok).toBeGreaterThan(10);
    expect(s.connections()).toBeLessThanOrEqual(4);
  });

  it('rates by its own clock (2xx answers over first request → last answer) and reports its CPU and event-loop delay', async () => {
    const s = await countingServer();
    server = s.server;
    const result = await runLoadJob(job(s.port, {}));
    expect(result.client_elapsed_s).toBeGreaterThan(0.2);
    // elapsed is rounded to the millisecond in the result, hence the 1 % tolerance.
    expect(Math.abs(result.req_per_s * result.client_elapsed_s - result.ok)).toBeLessThan(result.ok * 0.01);
    expect(result.generator.cpu_pct).toBeGreaterThan(0);
    const delay = result.generator.event_loop_delay_ms;
    expect(delay.p50).toBeGreaterThanOrEqual(0);
    expect(delay.p99).toBeGreaterThanOrEqual(delay.p50);
    expect(delay.max).toBeGreaterThanOrEqual(delay.p99);
  });

  it('keeps the bodies of sampled answers with the index of the request and the body it sent', async () => {
    const s = await countingServer();
    server = s.server;
    const result = await runLoadJob(job(s.port, {
      requests: [{ method: 'POST', path: '/p', body: Buffer.from('abc').toString('base64') }], sampleEvery: 5, maxSamples: 3,
    }));
    expect(result.samples).toHaveLength(3);
    for (const sample of result.samples) {
      expect(Buffer.from(sample.body, 'base64').toString()).toBe('/p 3');
      expect(Buffer.from(sample.sent!, 'base64').toString()).toBe('abc');
      expect(sample.request).toBe(0);
    }
  });

  it('counts non-2xx answers apart from the rate, with the first one named', async () => {
    const s = await countingServer();
    server = s.server;
    const result = await runLoadJob(job(s.port, { requests: [{ method: 'GET', path: '/fail' }], durationMs: 100 }));
    expect(result.non2xx).toBeGreaterThan(0);
    expect(result.ok).toBe(0);
    expect(result.req_per_s).toBe(0);
    expect(result.first_error).toContain('HTTP 503');
  });
});
