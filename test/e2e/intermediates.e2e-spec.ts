import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitPemChain } from '@certctl/pki';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';
import { opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * The intermediate-CA tree of a Local CA issuer: root → policy CA (path length 1) → issuing CA (path length 0, DNS
 * name constraints). Tree rules are 400s naming the field; the issuer signs with the configured intermediate and
 * serves the chain in order, which openssl verifies with -untrusted; the name constraints hold in openssl too.
 */
describe('intermediate CAs', () => {
  let p: PlatformHarness;
  const dir = mkdtempSync(join(tmpdir(), 'intermediates-e2e-'));
  beforeAll(async () => {
    p = await startPlatform();
  });
  afterAll(async () => p?.close());

  const run = opensslIn(dir);
  const openssl = async (args: string[]) => {
    const { status, out } = await run(args);
    return { ok: status === 0, out };
  };

  it('builds a tree with path length and name constraints, signs leaves with the chosen intermediate, chain verified by openssl -untrusted', async () => {
    const inv = await createInventory(p);
    const create = (body: object) => p.http.post(`/api/v1/issuers/${inv.issuerId}/intermediates`).set(p.auth()).send(body);
    const policy = await create({ name: 'policy', common_name: 'Policy CA', path_len_constraint: 1 });
    expect(policy.status, JSON.stringify(policy.body)).toBe(201);
    expect(policy.body).toMatchObject({ owning_issuer_id: inv.issuerId, state: 'active', path_len_constraint: 1, key_driver_id: 'database' });
    expect(policy.body).not.toHaveProperty('parent_ca_id'); // a root-level intermediate: unset fields are omitted
    expect(JSON.stringify(policy.body)).not.toMatch(/PRIVATE KEY|encrypted_private_key/);
    const issuing = (await create({ name: 'issuing', parent_ca_id: policy.body.id, name_constraints: { permitted_dns_domains: ['example.com'] } }).expect(201)).body;
    expect(issuing.path_len_constraint).toBe(0);

    // Tree rules.
    const under0 = await create({ name: 'too-deep', parent_ca_id: issuing.id });
    expect(under0.status).toBe(400);
    expect(under0.body.details.map((d: { field: string }) => d.field)).toContain('parent_ca_id');
    const wide = await create({ name: 'too-wide', parent_ca_id: policy.body.id, path_len_constraint: 1 });
    expect(wide.status).toBe(400);
    expect(wide.body.details.map((d: { field: string }) => d.field)).toContain('path_len_constraint');
    expect((await create({ name: 'policy' })).status).toBe(409);
    expect((await create({ name: 'bad-nc', name_constraints: { permitted_dns_domains: ['not a domain'] } })).status).toBe(400);
    expect((await p.http.post('/api/v1/issuers/iss-nope/intermediates').set(p.auth()).send({ name: 'x' })).status).toBe(404);
    const [{ key }] = (await p.db.query(`SELECT encode(encrypted_private_key, 'escape') AS key FROM intermediate_cas WHERE id = $1`, [issuing.id])).rows;
    expect(key).not.toContain('PRIVATE KEY'); // encrypted at rest

    // The issuer signs with the issuing CA.
    const issuer = (await p.http.get(`/api/v1/issuers/${inv.issuerId}`).set(p.auth()).expect(200)).body;
    await p.http.put(`/api/v1/issuers/${inv.issuerId}`).set(p.auth()).send({ config: { ...issuer.config, signing_intermediate_id: issuing.id } }).expect(200);
    const issue = async (overrides: Record<string, unknown> = {}) => {
      const cert = await post(p, '/api/v1/certificates', certificateBody(inv, overrides));
      const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
      expect((await p.waitForJob(job.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');
      return (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    };
    const inside = await issue();
    const chain = splitPemChain(inside.chain_pem);
    expect(chain).toHaveLength(3);
    expect(chain[0]!.trim()).toBe(issuing.cert_pem.trim());
    expect(chain[1]!.trim()).toBe(policy.body.cert_pem.trim());
    writeFileSync(join(dir, 'root.pem'), chain[2]!);
    writeFileSync(join(dir, 'untrusted.pem'), chain[0]! + chain[1]!);
    writeFileSync(join(dir, 'inside.pem'), inside.cert_pem);
    const verified = await openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'inside.pem']);
    expect(verified.out).toContain('inside.pem: OK');

    const name = `${unique('svc')}.example.org`;
    const outside = await issue({ name, common_name: name, sans: [name] });
    writeFileSync(join(dir, 'outside.pem'), outside.cert_pem);
    const refused = await openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'outside.pem']);
    expect(refused.ok).toBe(false);
    expect(refused.out).toMatch(/permitted subtree violation/);

    // Reading and retiring.
    expect((await p.http.get(`/api/v1/intermediates/${issuing.id}`).set(p.auth()).expect(200)).body.name).toBe('issuing');
    const listed = (await p.http.get(`/api/v1/issuers/${inv.issuerId}/intermediates`).set(p.auth()).expect(200)).body;
    expect(listed.data.map((i: { id: string }) => i.id)).toEqual([policy.body.id, issuing.id]);
    expect((await p.http.post(`/api/v1/intermediates/${policy.body.id}/retire`).set(p.auth()).send({})).status).toBe(409); // active child
    expect((await p.http.post(`/api/v1/intermediates/${issuing.id}/retire`).set(p.auth()).send({}).expect(200)).body.state).toBe('retired');
    expect((await p.http.post(`/api/v1/intermediates/${issuing.id}/retire`).set(p.auth()).send({})).status).toBe(409);
    expect((await p.http.get('/api/v1/intermediates/ica-nope').set(p.auth())).status).toBe(404);
    const audit = await p.db.query(`SELECT action FROM audit_events WHERE resource_type = 'intermediate_ca' ORDER BY seq`);
    expect(audit.rows.map((r) => r.action)).toEqual(['intermediate_ca_root_created', 'intermediate_ca_child_created', 'intermediate_ca_retired']);
  });
});
