import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { ocspResponseStatus } from '@certctl/pki';
import { certificateBody, createInventory, Inventory, keyWithRole, post, unique } from '../support/fixtures';
import { issueLocalCaLeaf, opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * Revocation end to end on real PostgreSQL and Redis, the api listening on a loopback port, and the real
 * openssl as the CRL and OCSP client: revoke → Revoked, CRL and OCSP say so, counters count it.
 */
const RATE_LIMIT = 100;

describe('revocation: revoke API, CRL and OCSP against openssl', () => {
  let p: PlatformHarness;
  let base: string;
  let operator: string;
  let inv: Inventory;
  const dir = mkdtempSync(join(tmpdir(), 'revocation-e2e-'));

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    p = await startPlatform({ CERTCTL_PKI_BASE_URL: base, CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: String(RATE_LIMIT) });
    await p.app.listen(port, '127.0.0.1');
    operator = await keyWithRole(p, 'operator');
    inv = await createInventory(p);
  });
  afterAll(async () => p?.close());

  const openssl = opensslIn(dir);
  const issued = (name: string, overrides: Record<string, unknown> = {}) => issueLocalCaLeaf(p, inv, dir, name, overrides);

  const ocspUrl = (issuerId = inv.issuerId) => `${base}/.well-known/pki/ocsp/${issuerId}`;
  const ocspCheck = (leaf: string) => openssl(['ocsp', '-issuer', 'ca.pem', '-cert', leaf, '-url', ocspUrl(), '-CAfile', 'ca.pem', '-nonce']);

  async function crlNumber(): Promise<number> {
    const res = await fetch(`${base}/.well-known/pki/crl/${inv.issuerId}`);
    expect(res.status).toBe(200);
    writeFileSync(join(dir, 'crl.der'), Buffer.from(await res.arrayBuffer()));
    const text = (await openssl(['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout', '-crlnumber'])).out;
    expect((await openssl(['crl', '-inform', 'DER', '-in', 'crl.der', '-CAfile', 'ca.pem', '-noout'])).out).toContain('verify OK');
    return parseInt(/crlNumber=0x([0-9A-F]+)/i.exec(text)![1]!, 16);
  }

  it('revokes: OCSP good → revoked with its reason (nonce verified), the CRL grows and verify -crl_check rejects the leaf; status, jobs, notification and audit follow', async () => {
    const leaf = await issued('leaf');
    const other = await issued('other');
    const text = (await openssl(['x509', '-in', leaf.leaf, '-noout', '-ext', 'crlDistributionPoints,authorityInfoAccess'])).out;
    expect(text).toContain(`URI:${base}/.well-known/pki/crl/${inv.issuerId}`);
    expect(text).toContain(`OCSP - URI:${ocspUrl()}`);

    const before = await ocspCheck(leaf.leaf);
    expect(before.out).toContain('Response verify OK');
    expect(before.out).toContain(`${leaf.leaf}: good`);
    expect(before.out).not.toMatch(/nonce/i);
    const firstCrl = await crlNumber();

    const res = await p.http.post(`/api/v1/certificates/${leaf.id}/revoke`).set(p.auth(operator)).send({ reason: 'keyCompromise' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: 'revoked', certificate_id: leaf.id, revocation_reason: 'keyCompromise', revoked_serials: [leaf.serial] });

    const after = await ocspCheck(leaf.leaf);
    expect(after.out).toContain('Response verify OK');
    expect(after.out).toContain(`${leaf.leaf}: revoked`);
    expect(after.out).toContain('Reason: keyCompromise');
    expect((await ocspCheck(other.leaf)).out).toContain(`${other.leaf}: good`);

    expect(await crlNumber()).toBeGreaterThan(firstCrl);
    writeFileSync(join(dir, 'crl.pem'), (await openssl(['crl', '-inform', 'DER', '-in', 'crl.der', '-outform', 'PEM'])).out);
    const rejected = await openssl(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', leaf.leaf]);
    expect(rejected.status).not.toBe(0);
    expect(rejected.out).toContain('certificate revoked');
    expect((await openssl(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'crl.pem', other.leaf])).out).toContain(`${other.leaf}: OK`);

    const cert = (await p.http.get(`/api/v1/certificates/${leaf.id}`).set(p.auth()).expect(200)).body;
    expect(cert).toMatchObject({ status: 'Revoked', revocation_reason: 'keyCompromise' });
    expect(new Date(cert.revoked_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const rows = await p.db.query('SELECT issuer_id, serial_number, reason, revoked_by FROM certificate_revocations WHERE certificate_id = $1', [leaf.id]);
    expect(rows.rows).toEqual([{ issuer_id: inv.issuerId, serial_number: leaf.serial, reason: 'keyCompromise', revoked_by: expect.stringMatching(/^operator-/) }]);
    const notes = await p.db.query(`SELECT type FROM notification_events WHERE certificate_id = $1 AND type = 'Revocation'`, [leaf.id]);
    expect(notes.rows.length).toBeGreaterThan(0);
    const audit = await p.db.query(`SELECT details FROM audit_events WHERE action = 'certificate_revoked' AND resource_id = $1`, [leaf.id]);
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0].details).toMatchObject({ reason: 'keyCompromise', serials: [leaf.serial], previous_status: 'Active' });

    // Revoked stays revoked: no second revoke, no renewal (manual or by the sweep's rules).
    expect((await p.http.post(`/api/v1/certificates/${leaf.id}/revoke`).set(p.auth()).send({ reason: 'superseded' })).status).toBe(409);
    expect((await p.http.post(`/api/v1/certificates/${leaf.id}/renew`).set(p.auth()).send({})).status).toBe(409);
  });

  it('cancels the open jobs of a revoked certificate and refuses bad revokes: 400 naming reason (wrong case too), 404, 409 archived, 403 viewer', async () => {
    const gated = await post(p, '/api/v1/profiles', { name: unique('gated'), requires_approval: true });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { certificate_profile_id: gated.id }));
    const open = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
    expect(open.body.job_status).toBe('AwaitingApproval');

    for (const reason of ['KeyCompromise', 'nonsense', 7]) {
      const bad = await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth()).send({ reason });
      expect(bad.status).toBe(400);
      expect((bad.body.details as Array<{ field: string }>).map((d) => d.field)).toContain('reason');
    }
    expect((await p.http.post('/api/v1/certificates/mc-unknown/revoke').set(p.auth()).send({ reason: 'superseded' })).status).toBe(404);
    const viewer = await keyWithRole(p, 'viewer');
    expect((await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth(viewer)).send({})).status).toBe(403);

    const res = await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth()).send({ reason: 'cessationOfOperation' }).expect(200);
    expect(res.body.cancelled_job_ids).toEqual([open.body.job_id]);
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [open.body.job_id])).rows[0].status).toBe('Cancelled');

    const archived = await post(p, '/api/v1/certificates', certificateBody(inv));
    await p.http.delete(`/api/v1/certificates/${archived.id}`).set(p.auth()).expect(204);
    expect((await p.http.post(`/api/v1/certificates/${archived.id}/revoke`).set(p.auth()).send({})).status).toBe(409);
  });

  it('bulk-revoke: certctl criteria and envelope; revoked/archived skipped, unknown ids in errors, no criteria 400', async () => {
    const bulkInv = await createInventory(p);
    const a = await post(p, '/api/v1/certificates', certificateBody(bulkInv));
    const b = await post(p, '/api/v1/certificates', certificateBody(bulkInv));
    const gone = await post(p, '/api/v1/certificates', certificateBody(bulkInv));
    await p.http.delete(`/api/v1/certificates/${gone.id}`).set(p.auth()).expect(204);
    await p.http.post(`/api/v1/certificates/${b.id}/revoke`).set(p.auth()).send({}).expect(200);

    const res = await p.http.post('/api/v1/certificates/bulk-revoke').set(p.auth(operator)).send({ issuer_id: bulkInv.issuerId, reason: 'superseded' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ total_matched: 3, total_revoked: 1, total_skipped: 2, total_failed: 0, errors: [] });
    expect((await p.http.get(`/api/v1/certificates/${a.id}`).set(p.auth())).body).toMatchObject({ status: 'Revoked', revocation_reason: 'superseded' });

    const unknown = await p.http.post('/api/v1/certificates/bulk-revoke').set(p.auth()).send({ certificate_ids: ['mc-nope'] }).expect(200);
    expect(unknown.body).toMatchObject({ total_matched: 0, total_failed: 1, errors: [{ certificate_id: 'mc-nope' }] });
    const none = await p.http.post('/api/v1/certificates/bulk-revoke').set(p.auth()).send({ reason: 'superseded' });
    expect(none.status).toBe(400);
    expect((none.body.details as Array<{ field: string }>).map((d) => d.field)).toContain('criteria');
    const badReason = await p.http.post('/api/v1/certificates/bulk-revoke').set(p.auth()).send({ issuer_id: bulkInv.issuerId, reason: 'Superseded' });
    expect(badReason.status).toBe(400);
  });

  it('serves the RFC 5019 GET form and certctl GET /{issuer}/{serial}: good, unknown for a foreign serial; ETag/304 and PEM for the CRL', async () => {
    const leaf = await issued('getform');
    expect((await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', leaf.leaf, '-reqout', 'get.req', '-no_nonce'])).status).toBe(0);
    const encoded = encodeURIComponent(readFileSync(join(dir, 'get.req')).toString('base64'));
    const viaGet = await fetch(`${ocspUrl()}/${encoded}`);
    expect(viaGet.status).toBe(200);
    expect(viaGet.headers.get('content-type')).toBe('application/ocsp-response');
    expect(viaGet.headers.get('cache-control')).toMatch(/max-age=\d+/);
    writeFileSync(join(dir, 'get.resp'), Buffer.from(await viaGet.arrayBuffer()));
    const checked = await openssl(['ocsp', '-respin', 'get.resp', '-issuer', 'ca.pem', '-cert', leaf.leaf, '-CAfile', 'ca.pem', '-no_nonce']);
    expect(checked.out).toContain('Response verify OK');
    expect(checked.out).toContain(`${leaf.leaf}: good`);

    const bySerial = await fetch(`${ocspUrl()}/${leaf.serial}`);
    writeFileSync(join(dir, 'serial.resp'), Buffer.from(await bySerial.arrayBuffer()));
    expect((await openssl(['ocsp', '-respin', 'serial.resp', '-issuer', 'ca.pem', '-cert', leaf.leaf, '-CAfile', 'ca.pem', '-no_nonce'])).out).toContain(`${leaf.leaf}: good`);
    const foreign = await openssl(['ocsp', '-issuer', 'ca.pem', '-serial', '0x7e57ab1e', '-url', ocspUrl(), '-CAfile', 'ca.pem', '-nonce']);
    expect(foreign.out).toContain('Response verify OK');
    expect(foreign.out).toContain('0x7e57ab1e: unknown');

    const crl = await fetch(`${base}/.well-known/pki/crl/${inv.issuerId}`);
    expect(crl.headers.get('content-type')).toBe('application/pkix-crl');
    expect(crl.headers.get('cache-control')).toBe('public, max-age=3600, must-revalidate');
    const etag = crl.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"[0-9a-f]{32}"$/);
    expect((await fetch(`${base}/.well-known/pki/crl/${inv.issuerId}`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const pem = await fetch(`${base}/.well-known/pki/crl/${inv.issuerId}?format=pem`);
    expect(await pem.text()).toMatch(/^-----BEGIN X509 CRL-----/);
    expect((await fetch(`${base}/.well-known/pki/crl/${inv.issuerId}?format=xml`)).status).toBe(400);

    const admin = await p.http.get('/api/v1/admin/crl/cache').set(p.auth()).expect(200);
    expect(admin.body.data).toContainEqual(expect.objectContaining({ issuer_id: inv.issuerId, crl_number: expect.anything(), revoked_count: expect.any(Number) }));
  });

  it('bad input: garbage, truncated, oversized, wrong type, nonces of 0 and 100 bytes, another CA\'s CertID, unknown issuer, CRL of an ACME issuer — never a 500', async () => {
    const leaf = await issued('bad');
    await openssl(['ocsp', '-issuer', 'ca.pem', '-cert', leaf.leaf, '-reqout', 'bad.req', '-no_nonce']);
    const good = readFileSync(join(dir, 'bad.req'));
    const postOcsp = (body: Buffer, type = 'application/ocsp-request', issuer = inv.issuerId) =>
      fetch(ocspUrl(issuer), { method: 'POST', headers: { 'Content-Type': type }, body: new Uint8Array(body) });
    const ocspStatusOf = async (res: Response) => ocspResponseStatus(Buffer.from(await res.arrayBuffer()));

    const garbage = await postOcsp(Buffer.from('definitely not DER'));
    expect(garbage.status).toBe(200);
    expect(await ocspStatusOf(garbage)).toBe(1); // malformedRequest
    expect(await ocspStatusOf(await postOcsp(good.subarray(0, good.length - 5)))).toBe(1);
    expect((await postOcsp(Buffer.alloc(100_000, 0x30))).status).toBe(413);
    expect((await postOcsp(good, 'application/json')).status).toBe(415);
    expect((await postOcsp(good, 'text/plain')).status).toBe(415);

    const withNonce = (nonce: Buffer) => {
      // tbsRequest with the same requestList and a nonce extension of the given length.
      const inner = der(0x04, nonce);
      const ext = der(0x30, Buffer.concat([Buffer.from('06092b0601050507300102', 'hex'), der(0x04, inner)]));
      const tbsContent = Buffer.concat([requestListOf(good), der(0xa2, der(0x30, ext))]);
      return der(0x30, der(0x30, tbsContent));
    };
    expect(await ocspStatusOf(await postOcsp(withNonce(Buffer.alloc(0))))).toBe(6); // unauthorized
    expect(await ocspStatusOf(await postOcsp(withNonce(Buffer.alloc(100, 7))))).toBe(6);
    expect(await ocspStatusOf(await postOcsp(withNonce(Buffer.alloc(16, 7))))).toBe(0);

    // A CertID naming another CA: this responder is not authoritative.
    const otherInv = await createInventory(p);
    const otherCert = await post(p, '/api/v1/certificates', certificateBody(otherInv));
    const job = await p.http.post(`/api/v1/certificates/${otherCert.id}/renew`).set(p.auth()).send({}).expect(202);
    await p.waitForJob(job.body.job_id, ['Completed']);
    expect(await ocspStatusOf(await postOcsp(good, 'application/ocsp-request', otherInv.issuerId))).toBe(6);

    const unknownIssuer = await postOcsp(good, 'application/ocsp-request', 'iss-does-not-exist');
    expect(unknownIssuer.status).toBe(404);
    expect((await fetch(`${base}/.well-known/pki/crl/iss-does-not-exist`)).status).toBe(404);
    await p.db.query(`INSERT INTO issuers (id, name, type, config) VALUES ('iss-acme-crl', $1, 'ACME', '{"directory_url":"https://127.0.0.1:1/dir"}')`, [unique('acme')]);
    const acmeCrl = await fetch(`${base}/.well-known/pki/crl/iss-acme-crl`);
    expect(acmeCrl.status).toBe(501);
    // A deliberate 501 says why (not the generic "internal error" of a failure).
    expect((await acmeCrl.json()).message).toMatch(/iss-acme-crl \(ACME\) does not sign CRLs/);
    expect((await postOcsp(good, 'application/ocsp-request', 'iss-acme-crl')).status).toBe(501);
    expect((await fetch(`${ocspUrl()}/not*base64`)).status).toBeLessThan(500);
    // A broken percent escape in the GET form is a malformed OCSP request, not an HTTP error.
    const brokenEscape = await fetch(`${ocspUrl()}/MEMw%E0%A4%A`);
    expect(brokenEscape.status).toBe(200);
    expect(await ocspStatusOf(brokenEscape)).toBe(1);
    // A chunked POST (no Content-Length) is left to Express by the fast path and answered all the same.
    const chunked = await fetch(ocspUrl(), {
      method: 'POST', headers: { 'Content-Type': 'application/ocsp-request' }, duplex: 'half',
      body: new ReadableStream({ start(c) { c.enqueue(new Uint8Array(good)); c.close(); } }),
    } as RequestInit);
    expect(chunked.status).toBe(200);
    expect(await ocspStatusOf(chunked)).toBe(0);

    // The counters said which, and are in the JSON metrics and the Prometheus text with all ten labels in order.
    const metrics = (await p.http.get('/api/v1/metrics').set(p.auth()).expect(200)).body;
    for (const label of ['request_post', 'request_invalid', 'nonce_malformed', 'nonce_echoed', 'issuer_not_found', 'request_success', 'request_get', 'cert_not_found']) {
      expect(metrics.ocsp[label], label).toBeGreaterThan(0);
    }
    expect(metrics.crl.generated).toBeGreaterThan(0);
    expect(metrics.crl.served).toBeGreaterThan(0);
    expect(metrics.crl.not_modified).toBeGreaterThan(0);
    const text = (await p.http.get('/api/v1/metrics/prometheus').set(p.auth()).expect(200)).text;
    const labels = [...text.matchAll(/^certctl_ocsp_counter_total\{label="(\w+)"[^}]*\} (\d+)/gm)].map((m) => m[1]);
    expect(labels).toEqual(['request_get', 'request_post', 'request_success', 'request_invalid', 'issuer_not_found', 'cert_not_found', 'signing_failed', 'nonce_echoed', 'nonce_malformed', 'rate_limited']);
    expect([...text.matchAll(/^certctl_crl_counter_total\{label="(\w+)"/gm)].map((m) => m[1])).toEqual(['generated', 'served', 'not_modified', 'generation_failed', 'rate_limited']);
  });

  it('rate-limits per client address across the responder: past the limit answers are unauthorized with Retry-After, counted as rate_limited', async () => {
    const leaf = await issued('limited');
    const serialUrl = new URL(`${ocspUrl()}/${leaf.serial}`);
    const fromAddress = (localAddress: string) => new Promise<{ status: number; retryAfter?: string; body: Buffer }>((resolve, reject) => {
      const req = httpRequest({ host: serialUrl.hostname, port: serialUrl.port, path: serialUrl.pathname, localAddress }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
    const before = (await p.http.get('/api/v1/metrics').set(p.auth())).body.ocsp.rate_limited as number;
    const answers = [];
    for (let i = 0; i < RATE_LIMIT + 3; i++) answers.push(await fromAddress('127.0.0.77'));
    expect(answers.slice(0, RATE_LIMIT).every((a) => ocspResponseStatus(a.body) === 0)).toBe(true);
    const limited = answers.slice(RATE_LIMIT);
    expect(limited.every((a) => a.status === 200 && ocspResponseStatus(a.body) === 6 && a.retryAfter === '60')).toBe(true);
    // Another client is not affected.
    expect(ocspResponseStatus((await fromAddress('127.0.0.78')).body)).toBe(0);
    expect((await p.http.get('/api/v1/metrics').set(p.auth())).body.ocsp.rate_limited).toBe(before + 3);
  });
});

function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

/** The requestList SEQUENCE of a nonce-less OCSPRequest made by openssl (tbsRequest's only element). */
function requestListOf(request: Buffer): Buffer {
  const skipHeader = (buf: Buffer) => (buf[1]! & 0x80 ? 2 + (buf[1]! & 0x7f) : 2);
  const tbs = request.subarray(skipHeader(request));
  return tbs.subarray(skipHeader(tbs));
}
