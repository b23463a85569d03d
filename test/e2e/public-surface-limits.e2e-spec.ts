import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, Socket } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UNKNOWN_ID_LOOKUPS_PER_SECOND } from '@certctl/issuers';
import { freePort } from '@certctl/testing';
import { createResponderApp } from '../../apps/responder/src/app.factory';
import { createInventory, Inventory } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const CRL_LIMIT = 20;
const CONNECTION_CAP = 10;
const BODY_TIMEOUT_MS = 1_000;
const HEADERS_TIMEOUT_MS = 1_500;

/** GET `path` on the responder from a chosen loopback address; status and Retry-After. */
function getFrom(base: string, path: string, localAddress: string): Promise<{ status: number; retryAfter?: string }> {
  const target = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, path, localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Fixed one-minute windows: a burst that straddles a window's end would be counted in two. */
async function awayFromMinuteBoundary(): Promise<void> {
  while (Date.now() % 60_000 > 50_000) await new Promise((r) => setTimeout(r, 100));
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) expect.fail(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The public revocation surface of apps/responder is bounded per client: CRL requests (known issuers or not)
 * past CERTCTL_CRL_RATE_LIMIT_PER_IP_MIN are 429s, made-up issuer ids cost a bounded number of database
 * lookups however many there are, a client holds at most CERTCTL_RESPONDER_MAX_CONNECTIONS_PER_CLIENT
 * connections, and a stalled body or request head is cut after its timeout.
 */
describe('public surface limits (apps/responder)', () => {
  let p: PlatformHarness;
  let responder: INestApplication;
  let base: string;
  let inv: Inventory;

  beforeAll(async () => {
    p = await startPlatform({
      CERTCTL_CRL_RATE_LIMIT_PER_IP_MIN: String(CRL_LIMIT), CERTCTL_RESPONDER_MAX_CONNECTIONS_PER_CLIENT: String(CONNECTION_CAP),
      CERTCTL_OCSP_BODY_TIMEOUT: `${BODY_TIMEOUT_MS}ms`, CERTCTL_HTTP_HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS}ms`,
      CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: '1000',
    });
    responder = await createResponderApp();
    const port = await freePort();
    await responder.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    inv = await createInventory(p);
  });
  afterAll(async () => {
    await responder?.close();
    await p?.close();
  });

  it(`answers ${CRL_LIMIT} CRL requests a minute per client, then 429 with Retry-After; unknown issuer ids count too; other clients are not affected`, async () => {
    await awayFromMinuteBoundary();
    const known: number[] = [];
    for (let i = 0; i < CRL_LIMIT + 5; i++) known.push((await getFrom(base, `/.well-known/pki/crl/${inv.issuerId}`, '127.0.0.61')).status);
    expect(known.slice(0, CRL_LIMIT)).toEqual(Array(CRL_LIMIT).fill(200));
    expect(known.slice(CRL_LIMIT)).toEqual(Array(5).fill(429));
    expect((await getFrom(base, `/.well-known/pki/crl/${inv.issuerId}`, '127.0.0.61')).retryAfter).toBe('60');

    const unknown: number[] = [];
    for (let i = 0; i < CRL_LIMIT + 5; i++) unknown.push((await getFrom(base, `/.well-known/pki/crl/iss-${randomBytes(6).toString('hex')}`, '127.0.0.62')).status);
    expect(unknown.slice(0, CRL_LIMIT)).toEqual(Array(CRL_LIMIT).fill(404));
    expect(unknown.slice(CRL_LIMIT)).toEqual(Array(5).fill(429));

    expect((await getFrom(base, `/.well-known/pki/crl/${inv.issuerId}`, '127.0.0.63')).status).toBe(200);
  });

  it('1,000 made-up issuer ids (CRL and OCSP) cost a few issuers lookups per second, not one each', async () => {
    await awayFromMinuteBoundary();
    const dataSource = responder.get(DataSource);
    const query = vi.spyOn(dataSource, 'query');
    const issuerLookups = () => query.mock.calls.filter(([sql]) => /\bFROM issuers\b/i.test(String(sql))).length;
    const started = Date.now();
    const statuses = new Map<number, number>();
    // 50 clients of 20 requests each (within the per-client limit), 10 at a time.
    const addresses = Array.from({ length: 50 }, (_, i) => `127.0.1.${i + 1}`);
    for (let round = 0; round < 20; round++) {
      for (let batch = 0; batch < addresses.length; batch += 10) {
        const answers = await Promise.all(addresses.slice(batch, batch + 10).map((address, i) => {
          const id = `iss-${randomBytes(8).toString('hex')}`;
          const path = (round + i) % 2 ? `/.well-known/pki/crl/${id}` : `/.well-known/pki/ocsp/${id}/${randomBytes(8).toString('hex')}`;
          return getFrom(base, path, address);
        }));
        for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      }
    }
    const elapsedSeconds = (Date.now() - started) / 1000;
    expect(Object.fromEntries(statuses)).toEqual({ 404: 1000 });
    // A few direct lookups a second (UNKNOWN_ID_LOOKUPS_PER_SECOND) and one read of all ids per second. On a fast run
    // all 1,000 fit in the second whose budget the previous test used up: zero lookups is a correct answer here.
    const madeUpLookups = issuerLookups();
    expect(madeUpLookups).toBeLessThanOrEqual((Math.ceil(elapsedSeconds) + 1) * (UNKNOWN_ID_LOOKUPS_PER_SECOND + 1));
    expect(madeUpLookups).toBeLessThan(200);
    // A real issuer is still found (and one created now, within a second).
    expect((await getFrom(base, `/.well-known/pki/crl/${inv.issuerId}`, '127.0.1.200')).status).toBe(200);
    const fresh = await createInventory(p);
    let status = 0;
    const deadline = Date.now() + 3_000;
    while (status !== 200 && Date.now() < deadline) {
      status = (await getFrom(base, `/.well-known/pki/crl/${fresh.issuerId}`, '127.0.1.201')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200)); // polling within the client's CRL limit
    }
    expect(status).toBe(200);
    // The spy does see issuer lookups: finding the issuer created a moment ago took at least one.
    expect(issuerLookups()).toBeGreaterThan(madeUpLookups);
    query.mockRestore();
  });

  it(`cuts a client's connections past ${CONNECTION_CAP} at once and its stalled bodies after the body timeout; other clients are served meanwhile`, async () => {
    const target = new URL(base);
    const sockets: Socket[] = [];
    const closedAt: number[] = [];
    const started = Date.now();
    for (let i = 0; i < CONNECTION_CAP * 3; i++) {
      const socket = connect({ host: target.hostname, port: Number(target.port), localAddress: '127.0.0.71' });
      socket.on('error', () => undefined);
      socket.on('close', () => closedAt.push(Date.now() - started));
      socket.on('connect', () => socket.write(
        `POST /.well-known/pki/ocsp/${inv.issuerId} HTTP/1.1\r\nHost: responder\r\nContent-Type: application/ocsp-request\r\nContent-Length: 100\r\n\r\n0123456789`,
      ));
      sockets.push(socket);
    }
    // Those past the cap are closed as they arrive, well before any timeout.
    await waitFor(() => closedAt.length >= CONNECTION_CAP * 2, BODY_TIMEOUT_MS, `${CONNECTION_CAP * 2} connections past the cap closed`);
    expect(sockets.filter((s) => !s.destroyed)).toHaveLength(CONNECTION_CAP);
    // Another client is served while these are held.
    expect((await getFrom(base, `/.well-known/pki/crl/${inv.issuerId}`, '127.0.0.72')).status).toBe(200);
    // The stalled bodies are cut once the body timeout has passed.
    await waitFor(() => closedAt.length === CONNECTION_CAP * 3, BODY_TIMEOUT_MS + 3_000, 'stalled bodies closed');
    expect(Math.max(...closedAt)).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    // With its connections gone the client may connect again.
    expect((await getFrom(base, `/.well-known/pki/crl/${inv.issuerId}`, '127.0.0.71')).status).toBe(200);
  });

  it('counts a client connecting over IPv6 (::1) under its /64', async () => {
    const v6 = await createResponderApp();
    const port = await freePort();
    await v6.listen(port, '::1');
    const redis = new Redis(p.env.redisUrl);
    try {
      await awayFromMinuteBoundary();
      const window = Math.floor(Date.now() / 60_000);
      expect((await fetch(`http://[::1]:${port}/.well-known/pki/crl/${inv.issuerId}`)).status).toBe(200);
      const shared = async () => Number(await redis.get(`${p.env.queuePrefix}:crl-rl:0:0:0:0::/64:${window}`));
      const deadline = Date.now() + 5_000;
      while ((await shared()) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await shared()).toBe(1);
    } finally {
      redis.disconnect();
      await v6.close();
    }
  });

  it('closes a connection that sends no request head within the headers timeout', async () => {
    const target = new URL(base);
    const started = Date.now();
    let closedAfter = -1;
    const socket = connect({ host: target.hostname, port: Number(target.port), localAddress: '127.0.0.73' });
    socket.on('error', () => undefined);
    socket.on('close', () => { closedAfter = Date.now() - started; });
    socket.on('connect', () => socket.write('GET /.well-known/pki/crl/'));
    await waitFor(() => closedAfter >= 0, HEADERS_TIMEOUT_MS + 3_000, 'the connection without a request head closed');
    expect(closedAfter).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
  });
});
