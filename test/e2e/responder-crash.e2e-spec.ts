import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certIdFor, certificatePemToDer, issuerIdentityOf, ocspResponseStatus } from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { certificateBody, createInventory, post } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';
import { SourceAppProcess } from '../support/source-app-process';

/**
 * kill -9 of the responder under load: the counters it had counted stay (they live in Redis), a revocation made
 * while it is down is what the restarted responder answers, and counting goes on from the same values.
 */
describe('responder killed under load', () => {
  let p: PlatformHarness;
  let responder: SourceAppProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'responder-crash-'));
  beforeAll(async () => {
    p = await startPlatform({ CERTCTL_READ_CACHE_TTL: '1ms' });
  });
  afterAll(async () => {
    await responder?.stop();
    await p?.close();
  });

  it('keeps counters and answers revoked after a restart', async () => {
    const inv = await createInventory(p);
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv));
    const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(job.body.job_id, ['Completed']);
    const pem = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    writeFileSync(join(dir, 'leaf.pem'), pem.cert_pem);
    writeFileSync(join(dir, 'ca.pem'), pem.chain_pem);
    const certId = certIdFor(issuerIdentityOf(certificatePemToDer(pem.chain_pem)), pem.serial_number);
    const der = (tag: number, c: Buffer) => Buffer.concat([Buffer.from([tag, c.length]), c]);
    const body = der(0x30, der(0x30, der(0x30, der(0x30, certId.der))));

    let port = await freePort();
    responder = await SourceAppProcess.start('responder', { ...p.env.env, CERTCTL_SERVER_HOST: '127.0.0.1', CERTCTL_RESPONDER_PORT: String(port) }, 30_000);
    let answered = 0;
    let stop = false;
    const loadLoop = (async () => {
      while (!stop) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/.well-known/pki/ocsp/${inv.issuerId}`, { method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, body: new Uint8Array(body) });
          if (ocspResponseStatus(Buffer.from(await res.arrayBuffer())) === 0) answered++;
        } catch {
          await new Promise((r) => setTimeout(r, 20)); // the responder is down
        }
      }
    })();
    while (answered < 50) await new Promise((r) => setTimeout(r, 20));
    await responder.kill();
    const afterKill = (await p.http.get('/api/v1/metrics').set(p.auth()).expect(200)).body.ocsp;
    expect(afterKill.request_post).toBeGreaterThanOrEqual(answered);
    expect(afterKill.request_success).toBeGreaterThanOrEqual(answered);

    // Revoked while the responder is down: nothing of it lives in the responder.
    await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth()).send({ reason: 'keyCompromise' }).expect(200);
    port = await freePort();
    responder = await SourceAppProcess.start('responder', { ...p.env.env, CERTCTL_SERVER_HOST: '127.0.0.1', CERTCTL_RESPONDER_PORT: String(port) }, 30_000);
    const check = await new Promise<string>((resolve) => execFile('openssl', ['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-url', `http://127.0.0.1:${port}/.well-known/pki/ocsp/${inv.issuerId}`, '-CAfile', 'ca.pem', '-nonce'],
      { cwd: dir, encoding: 'utf8' }, (_e, out, err) => resolve(`${out}${err}`)));
    expect(check).toContain('leaf.pem: revoked');
    const before = answered;
    while (answered < before + 20) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await loadLoop;
    const end = (await p.http.get('/api/v1/metrics').set(p.auth()).expect(200)).body.ocsp;
    expect(end.request_post).toBeGreaterThan(afterKill.request_post);
    expect(end.request_success).toBeGreaterThanOrEqual(afterKill.request_success + 20);
  });
});
