import { request as httpRequest } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { FlattenedSign, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonceStore } from '@certctl/acme-server';
import { freePort } from '@certctl/testing';
import { createResponderApp } from '../../apps/responder/src/app.factory';
import { RawAcme, rawKey, RawKey, randomName } from '../support/acme-raw';
import { AcmeServerHarness, startAcmeServer } from '../support/acme-server-harness';

const BIG_LIMIT = 20_000;
const SMALL_LIMIT = 5;
const ACCOUNTS_PER_HOUR = 2;

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: any }

/** One request from a chosen loopback source address (the rate limits count per client address). */
function fromAddress(localAddress: string, url: string, method: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, localAddress, agent: false, headers: body ? { 'content-type': 'application/jose+json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* empty */ }
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * ARCHITECTURE §6 for the ACME server's unauthenticated surface: handing out nonces writes nothing (they are MAC'd
 * tokens any replica checks), only used nonces are recorded, and new-nonce and jwk-signed requests are limited per
 * client address across replicas.
 */
describe('ACME server: stateless nonces and per-address limits', () => {
  let h: AcmeServerHarness;
  let raw: RawAcme;
  let dir: Record<string, any>;
  let key: RawKey;
  let kid: string;
  let redis: Redis;
  let prefix: string;
  const replicas: INestApplication[] = [];

  /** Another responder on the same database and Redis (a replica), with extra environment. */
  async function replica(env: Record<string, string> = {}): Promise<string> {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      const app = await createResponderApp();
      const port = await freePort();
      await app.listen(port, '127.0.0.1');
      replicas.push(app);
      return `http://127.0.0.1:${port}`;
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }

  const acmeKeys = async () => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:acme*`, 'COUNT', 1000);
      cursor = next;
      // The orchestrator's acme-validation queue (BullMQ) lives beside them.
      keys.push(...batch.filter((k) => !k.startsWith(`${prefix}:acme-validation:`)));
    } while (cursor !== '0');
    return new Set(keys);
  };

  async function eabJws(eab: { kid: string; hmacKey: string }, jwk: JWK, url: string): Promise<unknown> {
    return new FlattenedSign(new TextEncoder().encode(JSON.stringify(jwk))).setProtectedHeader({ alg: 'HS256', kid: eab.kid, url }).sign(Buffer.from(eab.hmacKey, 'base64url'));
  }

  /** The limits count per one-minute window: start a sequence that must land in one window early enough in it. */
  const sameMinuteAhead = async () => {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 15_000) await new Promise((r) => setTimeout(r, left + 50));
  };

  const badNonce = (res: { status: number; body: any; headers: Headers }) => {
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.type).toBe('urn:ietf:params:acme:error:badNonce');
    expect(res.headers.get('replay-nonce')).toMatch(/^[A-Za-z0-9_-]{42}$/);
  };

  beforeAll(async () => {
    h = await startAcmeServer('trust_authenticated', { CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN: String(BIG_LIMIT) });
    raw = new RawAcme(h.directoryUrl);
    dir = await raw.directory();
    key = await rawKey('ES256');
    const created = await raw.post(dir.newAccount, { externalAccountBinding: await eabJws(await h.eabKey(), key.jwk, dir.newAccount) }, { key, jwk: true });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    kid = created.headers.get('location')!;
    redis = new Redis(h.p.env.redisUrl);
    prefix = h.p.env.env.CERTCTL_QUEUE_PREFIX!;
  });
  afterAll(async () => {
    for (const app of replicas) await app.close();
    redis?.disconnect();
    await h?.close();
  });

  it('10,000 new-nonce requests write no nonce to Redis (only this client\'s rate counter) and every nonce differs', async () => {
    const before = await acmeKeys();
    const nonces = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < 10_000) {
        const head = next++ % 2 === 0;
        const res = await fetch(dir.newNonce, { method: head ? 'HEAD' : 'GET' });
        expect(res.status).toBe(head ? 200 : 204);
        expect(res.headers.get('cache-control')).toBe('no-store');
        nonces.add(res.headers.get('replay-nonce')!);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(nonces.size).toBe(10_000);
    const added = [...(await acmeKeys())].filter((k) => !before.has(k));
    // The shared per-client counter (one key per client and minute) is all; the nonces themselves are nowhere.
    expect(added.every((k) => k.startsWith(`${prefix}:acme-public-rl:127.0.0.1:`)), added.slice(0, 5).join(', ')).toBe(true);
    expect(added.length).toBeLessThanOrEqual(2);
  }, 180_000);

  it('a nonce is good once: the replay is badNonce with a fresh Replay-Nonce that works; the used one is recorded until it would expire', async () => {
    const nonce = await raw.nonce();
    const order = () => ({ identifiers: [{ type: 'dns', value: randomName('once') }] });
    expect((await raw.post(dir.newOrder, order(), { key, kid, nonce })).status).toBe(201);
    const replay = await raw.post(dir.newOrder, order(), { key, kid, nonce });
    badNonce(replay);
    const used = [...(await acmeKeys())].filter((k) => k.startsWith(`${prefix}:acme-nonce:used:`));
    expect(used.length).toBeGreaterThan(0);
    for (const k of used) {
      const ttl = await redis.pttl(k);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(5 * 60_000 + 30_000);
    }
    expect((await raw.post(dir.newOrder, order(), { key, kid, nonce: replay.headers.get('replay-nonce') })).status).toBe(201);
  });

  it('an expired nonce, a forged one (another key, a changed byte) and a made-up one are badNonce, and write nothing', async () => {
    const ours = new NonceStore(redis, 'unused', [NonceStore.deriveKey(process.env.CERTCTL_CONFIG_ENCRYPTION_KEY!)], () => 5 * 60_000);
    const order = { identifiers: [{ type: 'dns', value: randomName('bad') }] };
    // Same key as the server's, so only its age is wrong.
    const expired = ours.issue(Date.now() - 5 * 60_000 - 1_000);
    const fresh = Buffer.from(ours.issue(), 'base64url');
    fresh[5] = fresh[5]! ^ 0x01;
    const forged = new NonceStore(redis, 'unused', [NonceStore.deriveKey('another-secret-another-secret-xx')], () => 5 * 60_000).issue();
    const before = await acmeKeys();
    for (const nonce of [expired, fresh.toString('base64url'), forged, 'made-up-nonce']) {
      const res = await raw.post(dir.newOrder, order, { key, kid, nonce });
      badNonce(res);
    }
    expect((await raw.post(dir.newOrder, order, { key, kid, nonce: ours.issue() })).status).toBe(201);
    const added = [...(await acmeKeys())].filter((k) => !before.has(k) && !k.includes(':acme-public-rl:') && !k.includes(':acme-rl:'));
    // Only the last (good) nonce was recorded as used.
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/:acme-nonce:used:/);
  });

  it('another replica on the same Redis accepts a nonce the first issued, and the first then refuses it', async () => {
    const other = await replica();
    const otherRaw = new RawAcme(`${other}/acme/profile/${h.profileId}/directory`);
    const otherDir = await otherRaw.directory();
    const nonce = await raw.nonce();
    const otherKid = kid.replace(h.base, other);
    const accepted = await otherRaw.post(otherDir.newOrder, { identifiers: [{ type: 'dns', value: randomName('rep') }] }, { key, kid: otherKid, nonce });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    badNonce(await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('rep') }] }, { key, kid, nonce }));
    // And the other way round: its Replay-Nonce works here.
    expect((await raw.post(dir.newOrder, { identifiers: [{ type: 'dns', value: randomName('rep') }] }, { key, kid, nonce: accepted.headers.get('replay-nonce') })).status).toBe(201);
  });

  it('a replica with other CERTCTL_ACME_SERVER_NONCE_KEYS refuses the first one\'s nonces, and a rotation list accepts both', async () => {
    const keyA = 'a'.repeat(32);
    const keyB = 'b'.repeat(32);
    const other = await replica({ CERTCTL_ACME_SERVER_NONCE_KEYS: keyA });
    const rotating = await replica({ CERTCTL_ACME_SERVER_NONCE_KEYS: `${keyB},${keyA}` });
    const dirOf = async (base: string) => new RawAcme(`${base}/acme/profile/${h.profileId}/directory`);
    const otherRaw = await dirOf(other);
    const rotatingRaw = await dirOf(rotating);
    const order = () => ({ identifiers: [{ type: 'dns', value: randomName('keys') }] });
    const newOrderOf = (base: string) => `${base}/acme/profile/${h.profileId}/new-order`;
    // The first replica derives its key from the encryption key: the other's nonces are not its own.
    badNonce(await otherRaw.post(newOrderOf(other), order(), { key, kid: kid.replace(h.base, other), nonce: await raw.nonce() }));
    badNonce(await raw.post(dir.newOrder, order(), { key, kid, nonce: await otherRaw.nonce() }));
    // Rotating from a to b: nonces signed with a (the old key) still work; new ones are signed with b.
    expect((await rotatingRaw.post(newOrderOf(rotating), order(), { key, kid: kid.replace(h.base, rotating), nonce: await otherRaw.nonce() })).status).toBe(201);
    badNonce(await otherRaw.post(newOrderOf(other), order(), { key, kid: kid.replace(h.base, other), nonce: await rotatingRaw.nonce() }));
  });

  it('new-nonce past the per-address limit is a 429 rateLimited problem with Retry-After, counted across replicas; other addresses are unaffected', async () => {
    const a = await replica({ CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN: String(SMALL_LIMIT) });
    const b = await replica({ CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN: String(SMALL_LIMIT) });
    const path = `/acme/profile/${h.profileId}/new-nonce`;
    await sameMinuteAhead();
    for (let i = 0; i < SMALL_LIMIT; i++) expect((await fromAddress('127.0.0.2', `${a}${path}`, 'HEAD')).status).toBe(200);
    // Replica a shares its count (batched, every 100 ms); replica b meets the client for the first time and reads it.
    const counter = async () => Number(await redis.get(`${prefix}:acme-public-rl:127.0.0.2:${Math.floor(Date.now() / 60_000)}`));
    const deadline = Date.now() + 5_000;
    while ((await counter()) < SMALL_LIMIT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const limited = await fromAddress('127.0.0.2', `${b}${path}`, 'GET');
    expect(limited.status, JSON.stringify(limited.body)).toBe(429);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    expect(limited.body).toMatchObject({ type: 'urn:ietf:params:acme:error:rateLimited', status: 429 });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers['replay-nonce']).toMatch(/^[A-Za-z0-9_-]{42}$/);
    // The directory and renewal-info need no account either: the same budget.
    expect((await fromAddress('127.0.0.2', `${a}/acme/profile/${h.profileId}/directory`, 'GET')).status).toBe(429);
    expect((await fromAddress('127.0.0.2', `${b}/acme/profile/${h.profileId}/renewal-info/AAAA.AQID`, 'GET')).status).toBe(429);
    expect((await fromAddress('127.0.0.3', `${b}${path}`, 'HEAD')).status).toBe(200);
  });

  it('new-account (signed by a jwk, no account behind it) counts against the same per-address limit', async () => {
    const a = await replica({ CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN: String(SMALL_LIMIT) });
    const url = `${a}/acme/profile/${h.profileId}/new-account`;
    const stranger = await rawKey('ES256');
    const statuses: number[] = [];
    await sameMinuteAhead();
    for (let i = 0; i <= SMALL_LIMIT; i++) {
      // Nonces from 127.0.0.1 (not counted against .4); no EAB, so each is refused, but counted first.
      const nonce = await raw.nonce();
      const res = await fromAddress('127.0.0.4', url, 'POST', await raw.sign(url, { termsOfServiceAgreed: true }, { key: stranger, jwk: true, nonce }));
      statuses.push(res.status);
      if (i === SMALL_LIMIT) {
        expect(res.body.type).toBe('urn:ietf:params:acme:error:rateLimited');
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      } else {
        expect(res.body.type).toBe('urn:ietf:params:acme:error:externalAccountRequired');
      }
    }
    expect(statuses).toEqual([...Array(SMALL_LIMIT).fill(403), 429]);
  });

  it('accounts created per address and hour past CERTCTL_ACME_SERVER_ACCOUNTS_PER_IP_HOUR: rateLimited with Retry-After', async () => {
    const a = await replica({ CERTCTL_ACME_SERVER_ACCOUNTS_PER_IP_HOUR: String(ACCOUNTS_PER_HOUR) });
    const url = `${a}/acme/profile/${h.profileId}/new-account`;
    const results: Answer[] = [];
    for (let i = 0; i <= ACCOUNTS_PER_HOUR; i++) {
      const k = await rawKey('ES256');
      const body = await raw.sign(url, { externalAccountBinding: await eabJws(await h.eabKey(), k.jwk, url) }, { key: k, jwk: true, nonce: await raw.nonce() });
      results.push(await fromAddress('127.0.0.5', url, 'POST', body));
    }
    expect(results.map((r) => r.status)).toEqual([...Array(ACCOUNTS_PER_HOUR).fill(201), 429]);
    expect(results[ACCOUNTS_PER_HOUR]!.body.type).toBe('urn:ietf:params:acme:error:rateLimited');
    const retryAfter = Number(results[ACCOUNTS_PER_HOUR]!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
  });
});
