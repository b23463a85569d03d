import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ocspResponseStatus } from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { createResponderApp } from '../../apps/responder/src/app.factory';
import { createInventory, Inventory } from '../support/fixtures';
import { IssuedLeaf, issueLocalCaLeaf, opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const MAX_CERTIDS = 10;

function basicResponseOf(der: Buffer): pkijs.BasicOCSPResponse {
  const response = pkijs.OCSPResponse.fromBER(Uint8Array.from(der));
  return pkijs.BasicOCSPResponse.fromBER(Uint8Array.from(response.responseBytes!.response.valueBlock.valueHexView));
}

/** The serial (hex) of the responder certificate carried in a successful OCSP response. */
function responderSerialOf(der: Buffer): string {
  const basic = basicResponseOf(der);
  return Buffer.from(basic.certs![0]!.serialNumber.valueBlock.valueHexView).toString('hex');
}

/** Status of each SingleResponse (0 good, 1 revoked, 2 unknown) of a successful OCSP response. */
function certStatusesOf(der: Buffer): number[] {
  return basicResponseOf(der).tbsResponseData.responses.map((r) => (r.certStatus as { idBlock: { tagNumber: number } }).idBlock.tagNumber);
}

/**
 * The public OCSP surface cannot be made to write: answers for serials this CA never issued are `unknown`
 * without a Redis key or a database row, a request may name at most CERTCTL_OCSP_MAX_CERTIDS CertIDs, the
 * database copies expire, and a CA that ends within the responder rotation grace gets one responder
 * certificate, not one per nonce request.
 */
describe('OCSP write and memory amplification', () => {
  let p: PlatformHarness;
  let responder: INestApplication;
  let redis: Redis;
  let apiBase: string;
  let responderBase: string;
  let inv: Inventory;
  let leaf: IssuedLeaf;
  const dir = mkdtempSync(join(tmpdir(), 'ocsp-amplification-'));
  const openssl = opensslIn(dir);

  beforeAll(async () => {
    const port = await freePort();
    apiBase = `http://127.0.0.1:${port}`;
    p = await startPlatform({
      CERTCTL_PKI_BASE_URL: apiBase, CERTCTL_OCSP_MAX_CERTIDS: String(MAX_CERTIDS), CERTCTL_OCSP_CACHE_CLEANUP_INTERVAL: '200ms',
      // The Local CA root lives 10 years: a 11-year grace puts it inside the rotation grace from the start.
      CERTCTL_OCSP_RESPONDER_VALIDITY: '120000h', CERTCTL_OCSP_RESPONDER_ROTATION_GRACE: '96000h',
      CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: '0',
    });
    await p.app.listen(port, '127.0.0.1');
    responder = await createResponderApp();
    const responderPort = await freePort();
    await responder.listen(responderPort, '127.0.0.1');
    responderBase = `http://127.0.0.1:${responderPort}`;
    redis = new Redis(p.env.redisUrl);
    inv = await createInventory(p);
    leaf = await issueLocalCaLeaf(p, inv, dir, 'leaf');
  });
  afterAll(async () => {
    redis?.disconnect();
    await responder?.close();
    await p?.close();
  });

  const ocspUrl = (base = apiBase) => `${base}/.well-known/pki/ocsp/${inv.issuerId}`;
  const randomSerial = () => `0x${randomBytes(16).toString('hex')}`;
  /** A DER OCSPRequest for these serials of the inventory's CA, written by openssl. */
  const requestFor = async (serials: string[], name: string, nonce = false): Promise<Buffer> => {
    const args = ['ocsp', '-issuer', 'ca.pem', ...serials.flatMap((s) => ['-serial', s]), '-reqout', name, nonce ? '-nonce' : '-no_nonce'];
    expect((await openssl(args)).status).toBe(0);
    return readFileSync(join(dir, name));
  };
  const post = async (body: Buffer, base = apiBase): Promise<Buffer> => {
    const res = await fetch(ocspUrl(base), { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: new Uint8Array(body) });
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  };
  const cacheRows = async () => Number((await p.db.query('SELECT count(*) AS n FROM ocsp_response_cache')).rows[0].n);
  const ocspKeys = async () => {
    let cursor = '0';
    let n = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${p.env.queuePrefix}:ocsp*`, 'COUNT', 1000);
      cursor = next;
      n += keys.length;
    } while (cursor !== '0');
    return n;
  };

  it('answers random unknown serials (POST and GET) as unknown without a database row or a Redis key', async () => {
    // A first request: the issuer's epoch and counters exist from here on.
    await post(await requestFor([randomSerial()], 'warm.req'));
    const rowsBefore = await cacheRows();
    const keysBefore = await ocspKeys();

    for (let i = 0; i < 20; i++) {
      const answer = await post(await requestFor(Array.from({ length: MAX_CERTIDS }, randomSerial), `unknown-${i}.req`));
      expect(ocspResponseStatus(answer)).toBe(0);
      expect(certStatusesOf(answer)).toEqual(Array(MAX_CERTIDS).fill(2));
    }
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${ocspUrl(responderBase)}/${randomBytes(16).toString('hex')}`);
      expect(certStatusesOf(Buffer.from(await res.arrayBuffer()))).toEqual([2]);
    }
    expect(await cacheRows()).toBe(rowsBefore);
    expect(await ocspKeys()).toBe(keysBefore);

    // What this CA issued is still cached (one row, one key), and answered good.
    const good = await fetch(`${ocspUrl()}/${leaf.serial}`);
    expect(certStatusesOf(Buffer.from(await good.arrayBuffer()))).toEqual([0]);
    expect(await ocspKeys()).toBe(keysBefore + 1);
    const deadline = Date.now() + 5_000;
    while ((await cacheRows()) !== rowsBefore + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await cacheRows()).toBe(rowsBefore + 1);
  });

  it(`refuses a request with more than ${MAX_CERTIDS} CertIDs as malformedRequest and writes nothing`, async () => {
    const other = await issueLocalCaLeaf(p, inv, dir, 'other');
    const rowsBefore = await cacheRows();
    const keysBefore = await ocspKeys();
    const serials = [`0x${other.serial}`, ...Array.from({ length: MAX_CERTIDS }, randomSerial)];
    for (const base of [apiBase, responderBase]) {
      expect(ocspResponseStatus(await post(await requestFor(serials, 'too-many.req'), base))).toBe(1);
    }
    // Exactly the cap is fine.
    expect(ocspResponseStatus(await post(await requestFor(serials.slice(1), 'at-cap.req')))).toBe(0);
    expect(await ocspKeys()).toBe(keysBefore);
    expect(await cacheRows()).toBe(rowsBefore);
    expect((await p.db.query('SELECT 1 FROM ocsp_response_cache WHERE serial_hex = $1', [other.serial.toLowerCase()])).rowCount).toBe(0);
  });

  it('deletes database copies past their nextUpdate and keeps live ones', async () => {
    const insert = (serial: string, nextUpdate: string) => p.db.query(
      `INSERT INTO ocsp_response_cache (issuer_id, serial_hex, response_der, cert_status, this_update, next_update)
       VALUES ($1, $2, '\\x00', 'good', now() - interval '2 hours', ${nextUpdate}) ON CONFLICT DO NOTHING`,
      [inv.issuerId, serial],
    );
    await insert('0e0e0e01', `now() - interval '1 hour'`);
    await insert('0e0e0e02', `now() - interval '1 second'`);
    await insert('0e0e0e03', `now() + interval '1 hour'`);
    const left = async () => (await p.db.query(`SELECT serial_hex FROM ocsp_response_cache WHERE serial_hex LIKE '0e0e0e0%' ORDER BY serial_hex`)).rows.map((r) => r.serial_hex);
    const deadline = Date.now() + 10_000;
    while ((await left()).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await left()).toEqual(['0e0e0e03']);
  });

  it('mints one responder certificate for a CA inside the rotation grace, however many nonce requests come to however many replicas', async () => {
    const body = await requestFor([`0x${leaf.serial}`], 'nonce.req', true);
    const serials = new Set<string>();
    // Waves of concurrent requests to both replicas: each wave after the first found a responder certificate
    // "within its grace" and minted another before the fix.
    for (let wave = 0; wave < 4; wave++) {
      const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => post(body, i % 2 ? responderBase : apiBase)));
      for (const answer of answers) {
        expect(ocspResponseStatus(answer)).toBe(0);
        serials.add(responderSerialOf(answer));
      }
    }
    expect(serials.size).toBe(1);
    const [row] = (await p.db.query('SELECT cert_serial, rotated_from FROM ocsp_responders WHERE issuer_id = $1', [inv.issuerId])).rows;
    expect(row.rotated_from).toBeNull();
    expect(row.cert_serial.toLowerCase().replace(/^0+/, '')).toBe([...serials][0]!.replace(/^0+/, ''));
    // openssl still verifies the answer (the responder certificate ends with the CA, not before the answer).
    const check = await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', leaf.leaf, '-url', ocspUrl(responderBase), '-CAfile', 'ca.pem', '-nonce']);
    expect(check.out).toContain('Response verify OK');
    expect(check.out).toContain(`${leaf.leaf}: good`);
  });
});
