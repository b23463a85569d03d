import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInventory } from '../support/fixtures';
import { opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const MAX_DEPTH = 3;
const MAX_PER_ISSUER = 4;

/**
 * The intermediate-CA tree is bounded and takes web URLs only: a CA one level deeper than
 * CERTCTL_INTERMEDIATE_MAX_DEPTH is a 400 naming parent_ca_id, one more active CA than
 * CERTCTL_INTERMEDIATE_MAX_PER_ISSUER a 409 (also when requested all at once), and an ocsp_responder_url that
 * is not http(s) a 400 naming the field. The CAs made (in the api's signing thread) chain to the root.
 */
describe('intermediate CA limits', () => {
  let p: PlatformHarness;
  const dir = mkdtempSync(join(tmpdir(), 'intermediate-limits-'));
  const openssl = opensslIn(dir);
  beforeAll(async () => {
    p = await startPlatform({ CERTCTL_INTERMEDIATE_MAX_DEPTH: String(MAX_DEPTH), CERTCTL_INTERMEDIATE_MAX_PER_ISSUER: String(MAX_PER_ISSUER) });
  });
  afterAll(async () => p?.close());

  const creator = (issuerId: string) => (body: object) => p.http.post(`/api/v1/issuers/${issuerId}/intermediates`).set(p.auth()).send(body);
  const fields = (body: { details?: Array<{ field: string }> }) => (body.details ?? []).map((d) => d.field);

  it(`refuses a CA deeper than ${MAX_DEPTH} levels with a 400 naming parent_ca_id; the chain it did make verifies`, async () => {
    const inv = await createInventory(p);
    const create = creator(inv.issuerId);
    const chain: Array<{ id: string; cert_pem: string }> = [];
    for (let level = 1; level <= MAX_DEPTH; level++) {
      const res = await create({ name: `level-${level}`, ...(chain.length ? { parent_ca_id: chain.at(-1)!.id } : {}) });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      chain.push(res.body);
    }
    const deeper = await create({ name: `level-${MAX_DEPTH + 1}`, parent_ca_id: chain.at(-1)!.id });
    expect(deeper.status).toBe(400);
    expect(fields(deeper.body)).toEqual(['parent_ca_id']);
    expect(deeper.body.message).toMatch(/CERTCTL_INTERMEDIATE_MAX_DEPTH/);
    expect((await p.db.query('SELECT count(*)::int AS n FROM intermediate_cas WHERE owning_issuer_id = $1', [inv.issuerId])).rows[0].n).toBe(MAX_DEPTH);

    // Each CA was signed by its parent: openssl verifies the deepest against the root through the others.
    const [{ certificate_pem: rootPem }] = (await p.db.query('SELECT certificate_pem FROM issuer_authorities WHERE issuer_id = $1', [inv.issuerId])).rows;
    writeFileSync(join(dir, 'root.pem'), rootPem);
    writeFileSync(join(dir, 'untrusted.pem'), chain.slice(0, -1).map((c) => c.cert_pem).join(''));
    writeFileSync(join(dir, 'deepest.pem'), chain.at(-1)!.cert_pem);
    const verified = await openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'deepest.pem']);
    expect(verified.out).toContain('deepest.pem: OK');
  });

  it(`refuses the CA past ${MAX_PER_ISSUER} active ones with a 409, even when they are asked for at once; retiring one makes room`, async () => {
    const inv = await createInventory(p);
    const create = creator(inv.issuerId);
    const answers = await Promise.all(Array.from({ length: MAX_PER_ISSUER + 3 }, (_, i) => create({ name: `sibling-${i}` })));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_PER_ISSUER);
    expect(statuses.filter((s) => s === 409)).toHaveLength(3);
    const refused = answers.find((a) => a.status === 409)!;
    expect(refused.body.code).toBe('INTERMEDIATE_CA_LIMIT');
    expect(refused.body.message).toMatch(/CERTCTL_INTERMEDIATE_MAX_PER_ISSUER/);
    expect((await create({ name: 'one-more' })).status).toBe(409);

    const created = answers.find((a) => a.status === 201)!.body;
    await p.http.post(`/api/v1/intermediates/${created.id}/retire`).set(p.auth()).send({}).expect(200);
    expect((await create({ name: 'after-retire' })).status).toBe(201);
    // Another issuer has its own count.
    const other = await createInventory(p);
    expect((await creator(other.issuerId)({ name: 'sibling-0' })).status).toBe(201);
  });

  it('accepts only http(s) for ocsp_responder_url: javascript:, data:, file: and non-URLs are 400s naming the field', async () => {
    const inv = await createInventory(p);
    const create = creator(inv.issuerId);
    for (const url of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'file:///etc/passwd', 'ftp://ocsp.example.com', 'not a url', 'http://']) {
      const res = await create({ name: 'with-url', ocsp_responder_url: url });
      expect(res.status, url).toBe(400);
      expect(fields(res.body), url).toEqual(['ocsp_responder_url']);
    }
    expect((await p.db.query('SELECT count(*)::int AS n FROM intermediate_cas WHERE owning_issuer_id = $1', [inv.issuerId])).rows[0].n).toBe(0);
    const ok = await create({ name: 'with-url', ocsp_responder_url: 'https://ocsp.example.com/ca' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.ocsp_responder_url).toBe('https://ocsp.example.com/ca');
  });
});
