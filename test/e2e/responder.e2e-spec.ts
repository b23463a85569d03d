import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobProducer } from '@certctl/db';
import { CrlService } from '@certctl/issuers';
import { freePort } from '@certctl/testing';
import { createResponderApp } from '../../apps/responder/src/app.factory';
import { certificateBody, createInventory, Inventory, post } from '../support/fixtures';
import { opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * apps/responder as its own app next to the api and the orchestrator (same database and Redis): it answers
 * OCSP and CRL requests, sees a revocation made through the api within a second, counts into the same
 * cluster-wide counters, and the orchestrator's schedule rebuilds CRLs.
 */
describe('apps/responder', () => {
  let p: PlatformHarness;
  let responder: INestApplication;
  let responderBase: string;
  let inv: Inventory;
  const dir = mkdtempSync(join(tmpdir(), 'responder-e2e-'));

  beforeAll(async () => {
    p = await startPlatform({ CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_CRL_GENERATION_INTERVAL: '10m' });
    responder = await createResponderApp();
    const port = await freePort();
    await responder.listen(port, '127.0.0.1');
    responderBase = `http://127.0.0.1:${port}`;
    inv = await createInventory(p);
  });
  afterAll(async () => {
    await responder?.close();
    await p?.close();
  });

  const run = opensslIn(dir);
  const openssl = async (args: string[]) => (await run(args)).out;

  it('answers OCSP for a Local CA leaf, turns revoked within a second of a revoke through the api, and counts into the cluster-wide counters', async () => {
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv));
    const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(job.body.job_id, ['Completed']);
    const pem = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    writeFileSync(join(dir, 'leaf.pem'), pem.cert_pem);
    writeFileSync(join(dir, 'ca.pem'), pem.chain_pem);
    const url = `${responderBase}/.well-known/pki/ocsp/${inv.issuerId}`;
    const check = () => openssl(['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-url', url, '-CAfile', 'ca.pem', '-nonce']);
    const before = (await p.http.get('/api/v1/metrics').set(p.auth()).expect(200)).body.ocsp;

    const good = await check();
    expect(good).toContain('Response verify OK');
    expect(good).toContain('leaf.pem: good');
    // Warm the pre-signed (nonce-less) answer in Redis, then revoke through the api: the responder must not serve it.
    const cachedUrl = `${url}/${pem.serial_number}`;
    expect((await fetch(cachedUrl)).status).toBe(200);

    await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth()).send({ reason: 'affiliationChanged' }).expect(200);
    const revokedAt = Date.now();
    let answer = '';
    while (Date.now() - revokedAt < 1000) {
      writeFileSync(join(dir, 'cached.resp'), Buffer.from(await (await fetch(cachedUrl)).arrayBuffer()));
      answer = await openssl(['ocsp', '-respin', 'cached.resp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-CAfile', 'ca.pem', '-no_nonce']);
      if (answer.includes('revoked')) break;
    }
    expect(answer).toContain('leaf.pem: revoked');
    expect(answer).toContain('Reason: affiliationChanged');
    expect(await check()).toContain('Reason: affiliationChanged');

    const after = (await p.http.get('/api/v1/metrics').set(p.auth()).expect(200)).body.ocsp;
    expect(after.request_post - before.request_post).toBeGreaterThanOrEqual(2);
    expect(after.request_get - before.request_get).toBeGreaterThanOrEqual(2);
    expect(after.nonce_echoed - before.nonce_echoed).toBeGreaterThanOrEqual(2);
  });

  it('serves the CRL the orchestrator schedule builds, has health and metrics, and no API routes', async () => {
    const scheduler = await p.orchestrator.get(JobProducer).queue('schedule').getJobScheduler('crl.generate');
    expect(scheduler).toMatchObject({ name: 'crl.generate', every: 10 * 60_000 });
    const crlUrl = `${responderBase}/.well-known/pki/crl/${inv.issuerId}`;
    const first = await fetch(crlUrl);
    expect(first.status).toBe(200);
    writeFileSync(join(dir, 'a.crl'), Buffer.from(await first.arrayBuffer()));
    const numberOf = async (file: string) => parseInt(/crlNumber=0x([0-9A-F]+)/i.exec(await openssl(['crl', '-inform', 'DER', '-in', file, '-noout', '-crlnumber']))![1]!, 16);
    const n1 = await numberOf('a.crl');
    expect(await p.orchestrator.get(CrlService).generateAll()).toBeGreaterThan(0); // what the tick runs
    writeFileSync(join(dir, 'b.crl'), Buffer.from(await (await fetch(crlUrl)).arrayBuffer()));
    expect(await numberOf('b.crl')).toBeGreaterThan(n1);
    expect(await openssl(['crl', '-inform', 'DER', '-in', 'b.crl', '-CAfile', 'ca.pem', '-noout'])).toContain('verify OK');

    expect((await fetch(`${responderBase}/health`)).status).toBe(200);
    expect((await fetch(`${responderBase}/ready`)).status).toBe(200);
    expect(await (await fetch(`${responderBase}/metrics`)).text()).toContain('http_request_duration_seconds');
    expect((await fetch(`${responderBase}/api/v1/certificates`)).status).toBe(404);
  });
});
