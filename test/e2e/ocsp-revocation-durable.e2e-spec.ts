import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as pkijs from 'pkijs';
import { certIdFor, certificatePemToDer, issuerIdentityOf } from '@certctl/pki';
import { RedisHandle, startRedisServer } from '@certctl/testing';
import { certificateBody, createInventory, Inventory, post } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * An OCSP answer must never say "good" for a revoked serial, whatever happens to Redis. Found by bench:soak: the
 * answers were cached under a revocation counter kept in Redis, which went back to 0 when Redis lost its data, and
 * the api (or a responder) served its in-memory "good" answers again. The counter now lives in PostgreSQL and moves
 * in the revoking transaction itself, so it also moves for a revocation written while Redis is away.
 */
describe('OCSP answers after Redis loses its data, and for revocations Redis never heard of', () => {
  let redis: RedisHandle;
  let p: PlatformHarness;
  let inv: Inventory;

  beforeAll(async () => {
    redis = await startRedisServer();
    p = await startPlatform({ CERTCTL_REDIS_URL: redis.url });
    inv = await createInventory(p);
  });
  afterAll(async () => {
    await p?.close();
    await redis?.stop();
  });

  /** An issued certificate and the GET path of an OCSP request for it (RFC 6960 appendix A, no nonce: cacheable). */
  async function issued(): Promise<{ id: string; serial: string; path: string }> {
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv));
    const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(job.body.job_id, ['Completed']);
    const pem = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    const certId = certIdFor(issuerIdentityOf(certificatePemToDer(pem.chain_pem)), pem.serial_number);
    const der = (tag: number, c: Buffer) => Buffer.concat([Buffer.from([tag, c.length]), c]);
    const request = der(0x30, der(0x30, der(0x30, der(0x30, certId.der))));
    return { id: cert.id, serial: pem.serial_number, path: `/.well-known/pki/ocsp/${inv.issuerId}/${encodeURIComponent(request.toString('base64'))}` };
  }

  async function status(path: string): Promise<string> {
    const res = await p.http.get(path).buffer(true).parse((r, done) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    const response = pkijs.OCSPResponse.fromBER(new Uint8Array(res.body as Buffer));
    const basic = pkijs.BasicOCSPResponse.fromBER(new Uint8Array(response.responseBytes!.response.valueBlock.valueHexView));
    // CertStatus is a CHOICE of context tags: [0] good, [1] revoked, [2] unknown.
    const tag = (basic.tbsResponseData.responses[0]!.certStatus as { idBlock: { tagNumber: number } }).idBlock.tagNumber;
    return ['good', 'revoked', 'unknown'][tag] ?? `tag ${tag}`;
  }

  it('a serial revoked before Redis lost its data is never answered "good" again', async () => {
    const cert = await issued();
    expect(await status(cert.path)).toBe('good'); // now cached in this process and in Redis
    await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth()).send({ reason: 'keyCompromise' }).expect(200);
    expect(await status(cert.path)).toBe('revoked');

    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
    // Ask for a while past the replicas' trust in their copy of the generation (500 ms): every answer must say revoked.
    const until = Date.now() + 2_000;
    const answers = new Set<string>();
    while (Date.now() < until) answers.add(await status(cert.path));
    expect([...answers]).toEqual(['revoked']);
  });

  it('a revocation that reached only PostgreSQL (no Redis message) is answered within a second', async () => {
    const cert = await issued();
    expect(await status(cert.path)).toBe('good');
    // As a path that never told Redis would leave it (or one that ran while Redis was down).
    await p.db.query(
      `INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_number, reason, revoked_by) VALUES ($1, $2, $3, $4, 'keyCompromise', 'test')`,
      [`rev-${cert.serial}`, cert.id, inv.issuerId, cert.serial],
    );
    const deadline = Date.now() + 5_000;
    let last = 'good';
    while (Date.now() < deadline && last !== 'revoked') last = await status(cert.path);
    expect(last).toBe('revoked');
  });
});
