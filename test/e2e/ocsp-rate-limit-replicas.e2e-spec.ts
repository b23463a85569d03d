import { request as httpRequest } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ocspResponseStatus } from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { createResponderApp } from '../../apps/responder/src/app.factory';
import { createInventory, Inventory } from '../support/fixtures';
import { issueLocalCaLeaf } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const LIMIT = 40;
const PER_REPLICA = 30;

/** One OCSP GET from a chosen loopback address (the client the limit counts), answered with its OCSP status. */
function ocspStatusFrom(url: string, localAddress: string): Promise<{ status: number; retryAfter?: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: ocspResponseStatus(Buffer.concat(chunks)), retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The per-client OCSP rate limit is one limit across replicas: a client spreading its requests over the api origin
 * and the responder app still meets it (each replica alone would let all of them through). Replicas share their
 * counts every 100 ms, so the limit may be overshot by what they answered in between, never by a replica's share.
 */
describe('OCSP rate limit shared by replicas', () => {
  let p: PlatformHarness;
  let responder: INestApplication;
  let apiBase: string;
  let responderBase: string;
  let inv: Inventory;
  const dir = mkdtempSync(join(tmpdir(), 'ocsp-rate-replicas-'));

  beforeAll(async () => {
    p = await startPlatform({ CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: String(LIMIT), CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_RESPONDER_MAX_CONNECTIONS_PER_CLIENT: '200' });
    const apiPort = await freePort();
    await p.app.listen(apiPort, '127.0.0.1');
    apiBase = `http://127.0.0.1:${apiPort}`;
    responder = await createResponderApp();
    const responderPort = await freePort();
    await responder.listen(responderPort, '127.0.0.1');
    responderBase = `http://127.0.0.1:${responderPort}`;
    inv = await createInventory(p);
  });
  afterAll(async () => {
    await responder?.close();
    await p?.close();
  });

  it('a client alternating between the api and the responder is limited near the one limit, by both', { timeout: 60_000 }, async () => {
    const leaf = await issueLocalCaLeaf(p, inv, dir, 'leaf');
    const path = `/.well-known/pki/ocsp/${inv.issuerId}/${leaf.serial}`;
    const before = (await p.http.get('/api/v1/metrics').set(p.auth()).expect(200)).body.ocsp.rate_limited;
    const answers: Array<{ replica: 'api' | 'responder'; status: number; retryAfter?: string }> = [];
    for (let i = 0; i < PER_REPLICA; i++) {
      for (const [replica, base] of [['api', apiBase], ['responder', responderBase]] as const) {
        answers.push({ replica, ...(await ocspStatusFrom(`${base}${path}`, '127.0.0.91')) });
      }
      await sleep(25); // a client's pace: the replicas hear of each other's counts meanwhile
    }
    const allowed = answers.filter((a) => a.status === 0).length;
    const limited = answers.filter((a) => a.status === 6);
    expect(allowed + limited.length).toBe(2 * PER_REPLICA);
    // Without sharing each replica would allow its 30 (60 in all, none limited). Shared every 100 ms, the
    // overshoot is what the other replica answered since the last sync: a few requests at this pace.
    expect(allowed).toBeGreaterThanOrEqual(LIMIT);
    expect(allowed).toBeLessThanOrEqual(LIMIT + 12);
    expect(new Set(limited.map((a) => a.replica))).toEqual(new Set(['api', 'responder']));
    expect(limited.every((a) => a.retryAfter === '60')).toBe(true);
    // Another client is not affected.
    expect((await ocspStatusFrom(`${responderBase}${path}`, '127.0.0.92')).status).toBe(0);
    // The cluster-wide counter has every refusal of both replicas.
    expect((await p.http.get('/api/v1/metrics').set(p.auth()).expect(200)).body.ocsp.rate_limited - before).toBe(limited.length);
  });

  it('a replica that has never seen a client another replica holds over the limit refuses all of a burst of 100 to it', { timeout: 60_000 }, async () => {
    const leaf = await issueLocalCaLeaf(p, inv, dir, 'burst');
    const path = `/.well-known/pki/ocsp/${inv.issuerId}/${leaf.serial}`;
    // Not across a window's end: the two replicas must count into the same minute.
    while (Date.now() % 60_000 > 50_000) await sleep(100);
    const window = Math.floor(Date.now() / 60_000);
    for (let i = 0; i <= LIMIT; i++) await ocspStatusFrom(`${apiBase}${path}`, '127.0.0.95');
    const redis = new Redis(p.env.redisUrl);
    try {
      const shared = async () => Number(await redis.get(`${p.env.queuePrefix}:ocsp-rl:127.0.0.95:${window}`));
      const deadline = Date.now() + 5_000;
      while ((await shared()) <= LIMIT && Date.now() < deadline) await sleep(20);
      expect(await shared()).toBeGreaterThan(LIMIT);
    } finally {
      redis.disconnect();
    }
    // Before, the responder answered most of a burst before its first sync told it about the api's count.
    const burst = await Promise.all(Array.from({ length: 100 }, () => ocspStatusFrom(`${responderBase}${path}`, '127.0.0.95')));
    expect(burst.filter((a) => a.status === 0)).toHaveLength(0);
    expect(burst.every((a) => a.status === 6)).toBe(true);
  });
});
