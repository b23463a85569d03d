import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { CrlService } from '@certctl/issuers';
import { crlShardOf } from '@certctl/pki';
import { createInventory, Inventory, post, unique } from '../support/fixtures';
import { IssuedLeaf, issueLocalCaLeaf, opensslIn } from '../support/pki-fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * Sharded CRLs (issue 22) end to end on real PostgreSQL and Redis, the api on a loopback port, and the real
 * openssl as the relying party: each leaf's CRL Distribution Point names its serial's shard, each shard's CRL
 * has a critical Issuing Distribution Point naming the same URL, its own CRL number and only its serials, and
 * `openssl verify -crl_check` accepts the good and rejects the revoked leaf of every shard.
 */
const SHARDS = 4;

describe('sharded CRLs: CRL Distribution Point per shard, Issuing Distribution Point, openssl verify -crl_check', () => {
  let p: PlatformHarness;
  let base: string;
  const dir = mkdtempSync(join(tmpdir(), 'crl-shards-e2e-'));
  const openssl = opensslIn(dir);

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    p = await startPlatform({ CERTCTL_PKI_BASE_URL: base, CERTCTL_READ_CACHE_TTL: '1ms' });
    await p.app.listen(port, '127.0.0.1');
  });
  afterAll(async () => p?.close());

  async function shardedInventory(shards: number): Promise<Inventory> {
    const inv = await createInventory(p);
    await p.http.put(`/api/v1/issuers/${inv.issuerId}`).set(p.auth()).send({ config: { crl_shards: shards } }).expect(200);
    return inv;
  }

  const crlUrl = (issuerId: string, shard?: number) => `${base}/.well-known/pki/crl/${issuerId}${shard === undefined ? '' : `/${shard}`}`;

  /** Downloads a CRL to `<file>.der` and `<file>.pem`; returns openssl's text of it (signature checked against ca.pem). */
  async function fetchCrl(url: string, file: string): Promise<string> {
    const res = await fetch(url);
    expect(res.status, url).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/pkix-crl');
    writeFileSync(join(dir, `${file}.der`), Buffer.from(await res.arrayBuffer()));
    const text = (await openssl(['crl', '-inform', 'DER', '-in', `${file}.der`, '-CAfile', 'ca.pem', '-noout', '-text'])).out;
    expect(text).toContain('verify OK');
    expect((await openssl(['crl', '-inform', 'DER', '-in', `${file}.der`, '-out', `${file}.pem`])).status).toBe(0);
    return text;
  }

  const crlNumberOf = (text: string) => Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)![1]);
  const verify = (crl: string, leaf: IssuedLeaf) => openssl(['verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', `${crl}.pem`, leaf.leaf]);
  const cdpOf = async (leaf: IssuedLeaf) => (await openssl(['x509', '-in', leaf.leaf, '-noout', '-ext', 'crlDistributionPoints'])).out;

  /**
   * Issues leaves until every shard has two, revokes one per shard, and checks each shard's CRL with openssl
   * (ca.pem: the leaves' chain, so the CRL's signer may be the root or an intermediate).
   */
  async function checkEveryShard(inv: Inventory, shards: number): Promise<void> {
    // Serials are random: issue until every shard has a leaf to revoke and one to keep.
    const byShard = new Map<number, IssuedLeaf[]>();
    for (let i = 0; i < 80 && [...Array(shards).keys()].some((s) => (byShard.get(s)?.length ?? 0) < 2); i++) {
      const leaf = await issueLocalCaLeaf(p, inv, dir, `leaf-${inv.issuerId}-${i}`);
      const shard = crlShardOf(leaf.serial, shards);
      byShard.set(shard, [...(byShard.get(shard) ?? []), leaf]);
      const cdp = await cdpOf(leaf);
      expect(cdp).toContain(`URI:${crlUrl(inv.issuerId, shard)}`);
      expect(cdp.match(/URI:/g)).toHaveLength(1);
      const stored = await p.db.query('SELECT crl_shard FROM certificate_versions WHERE serial_number = $1', [leaf.serial]);
      expect(stored.rows).toEqual([{ crl_shard: shard }]);
    }
    for (let s = 0; s < shards; s++) expect(byShard.get(s)?.length ?? 0, `shard ${s}`).toBeGreaterThanOrEqual(2);

    const numbersBefore = new Map<number, number>();
    for (let s = 0; s < shards; s++) numbersBefore.set(s, crlNumberOf(await fetchCrl(crlUrl(inv.issuerId, s), `before-${s}`)));

    const revoked = [...Array(shards).keys()].map((s) => byShard.get(s)![0]!);
    for (const leaf of revoked) {
      await p.http.post(`/api/v1/certificates/${leaf.id}/revoke`).set(p.auth()).send({ reason: 'keyCompromise' }).expect(200);
    }
    const rows = await p.db.query('SELECT serial_number, crl_shard FROM certificate_revocations WHERE issuer_id = $1 ORDER BY crl_shard', [inv.issuerId]);
    expect(rows.rows).toEqual(revoked.map((leaf, s) => ({ serial_number: leaf.serial, crl_shard: s })));

    for (let s = 0; s < shards; s++) {
      const text = await fetchCrl(crlUrl(inv.issuerId, s), `shard-${s}`);
      // RFC 5280 §5.2.5: critical, and its distributionPoint is the URL the shard's leaves carry.
      expect(text).toMatch(new RegExp(`X509v3 Issuing Distribution Point: critical\\s*\\n\\s*Full Name:\\s*\\n\\s*URI:${crlUrl(inv.issuerId, s).replace(/[.?]/g, '\\$&')}\\s*\\n`));
      // Its own number sequence: one build on the first fetch, one per revocation in this shard since.
      expect(crlNumberOf(text)).toBe(numbersBefore.get(s)! + 1);
      const serials = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.toLowerCase());
      expect(serials).toEqual([revoked[s]!.serial]);

      const rejected = await verify(`shard-${s}`, revoked[s]!);
      expect(rejected.status).not.toBe(0);
      expect(rejected.out).toContain('certificate revoked');
      const good = byShard.get(s)![1]!;
      expect((await verify(`shard-${s}`, good)).out).toContain(`${good.leaf}: OK`);
      // Another shard's leaf is outside this CRL's scope: openssl refuses the CRL for it instead of calling it good.
      const stranger = byShard.get((s + 1) % shards)![1]!;
      const outOfScope = await verify(`shard-${s}`, stranger);
      expect(outOfScope.status).not.toBe(0);
      expect(outOfScope.out).toContain('different CRL scope');
    }

    // The unsharded URL keeps serving the issuer's full CRL: every revoked serial, no Issuing Distribution Point.
    const full = await fetchCrl(crlUrl(inv.issuerId), 'full');
    expect(full).not.toContain('Issuing Distribution Point');
    expect([...full.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.toLowerCase()).sort()).toEqual(revoked.map((l) => l.serial).sort());
    const cache = (await p.http.get('/api/v1/admin/crl/cache').set(p.auth()).expect(200)).body.data.filter((r: { issuer_id: string }) => r.issuer_id === inv.issuerId);
    expect(cache.map((r: { shard: number; revoked_count: number }) => [r.shard, r.revoked_count])).toEqual([[-1, shards], ...[...Array(shards).keys()].map((s) => [s, 1])]);
  }

  it('puts every leaf in its serial\'s shard, and each shard CRL covers exactly its leaves: good accepted, revoked rejected, other shards\' leaves out of scope', async () => {
    await checkEveryShard(await shardedInventory(SHARDS), SHARDS);
  });

  it('shards the CRL of an issuer that signs with an intermediate CA: each shard CRL is signed by it and checked by openssl', async () => {
    const inv = await createInventory(p);
    const intermediate = (await p.http.post(`/api/v1/issuers/${inv.issuerId}/intermediates`).set(p.auth()).send({ name: 'issuing', common_name: 'Sharded Issuing CA' }).expect(201)).body;
    await p.http.put(`/api/v1/issuers/${inv.issuerId}`).set(p.auth()).send({ config: { signing_intermediate_id: intermediate.id, crl_shards: 2 } }).expect(200);
    await checkEveryShard(inv, 2);
    const text = (await openssl(['crl', '-in', 'shard-0.pem', '-noout', '-issuer'])).out;
    expect(text).toContain('Sharded Issuing CA');
  });

  it('a smaller shard count applies to new leaves only: the shards earlier leaves name keep being served; shards never used are 404, malformed ones 400', async () => {
    const inv = await shardedInventory(SHARDS);
    let high: IssuedLeaf | undefined;
    for (let i = 0; i < 40 && !high; i++) {
      const leaf = await issueLocalCaLeaf(p, inv, dir, `shrink-${i}`);
      if (crlShardOf(leaf.serial, SHARDS) >= 2) high = leaf;
    }
    expect(high).toBeDefined();
    const highShard = crlShardOf(high!.serial, SHARDS);
    await p.http.post(`/api/v1/certificates/${high!.id}/revoke`).set(p.auth()).send({ reason: 'superseded' }).expect(200);

    await p.http.put(`/api/v1/issuers/${inv.issuerId}`).set(p.auth()).send({ config: { crl_shards: 2 } }).expect(200);
    const fresh = await issueLocalCaLeaf(p, inv, dir, 'after-shrink');
    expect(await cdpOf(fresh)).toContain(`URI:${crlUrl(inv.issuerId, crlShardOf(fresh.serial, 2))}`);

    // As after a lost cache: the shard is no longer below the count, and is served because a version names it.
    await p.db.query('DELETE FROM crl_cache WHERE issuer_id = $1', [inv.issuerId]);
    const text = await fetchCrl(crlUrl(inv.issuerId, highShard), 'shrunk');
    expect(text).toContain(`URI:${crlUrl(inv.issuerId, highShard)}`);
    const rejected = await verify('shrunk', high!);
    expect(rejected.out).toContain('certificate revoked');
    // The schedule tick rebuilds the full CRL, the shards below the count and every shard built before.
    await p.orchestrator.get(CrlService).generateAll();
    const rebuilt = await p.db.query('SELECT shard FROM crl_cache WHERE issuer_id = $1 ORDER BY shard', [inv.issuerId]);
    expect(rebuilt.rows.map((r) => r.shard)).toEqual([-1, 0, 1, highShard]);

    const neverUsed = await fetch(crlUrl(inv.issuerId, 200));
    expect(neverUsed.status).toBe(404);
    expect((await neverUsed.json()).code).toBe('CRL_SHARD_NOT_FOUND');
    for (const bad of ['256', 'x', '-1', '01', '1.5']) {
      const res = await fetch(`${crlUrl(inv.issuerId)}/${bad}`);
      expect(res.status, bad).toBe(400);
      expect((await res.json()).message).toContain('shard');
    }
    expect((await fetch(crlUrl('iss-unknown', 0))).status).toBe(404);
  });

  it('an unsharded issuer is unchanged: the leaf names the issuer\'s CRL URL, no shard is stored or served', async () => {
    const inv = await createInventory(p);
    const leaf = await issueLocalCaLeaf(p, inv, dir, 'unsharded');
    const cdp = await cdpOf(leaf);
    expect(cdp).toContain(`URI:${crlUrl(inv.issuerId)}\n`);
    expect((await p.db.query('SELECT crl_shard FROM certificate_versions WHERE serial_number = $1', [leaf.serial])).rows).toEqual([{ crl_shard: null }]);
    await p.http.post(`/api/v1/certificates/${leaf.id}/revoke`).set(p.auth()).send({}).expect(200);
    const text = await fetchCrl(crlUrl(inv.issuerId), 'crl-unsharded');
    expect(text).not.toContain('Issuing Distribution Point');
    expect((await verify('crl-unsharded', leaf)).out).toContain('certificate revoked');
    expect((await fetch(crlUrl(inv.issuerId, 0))).status).toBe(404);
  });

  it('refuses a shard count of 0, above 256, fractional or not a number with a 400 naming config.crl_shards', async () => {
    for (const crl_shards of [0, 257, 1.5, '4', -3]) {
      const created = await p.http.post('/api/v1/issuers').set(p.auth()).send({ name: unique('bad-shards'), type: 'GenericCA', config: { crl_shards } });
      expect(created.status, JSON.stringify(crl_shards)).toBe(400);
      expect((created.body.details as Array<{ field: string }>).map((d) => d.field)).toContain('config.crl_shards');
    }
    const ok = await post(p, '/api/v1/issuers', { name: unique('shards'), type: 'GenericCA', config: { crl_shards: 256 } });
    const update = await p.http.put(`/api/v1/issuers/${ok.id}`).set(p.auth()).send({ config: { crl_shards: 0 } });
    expect(update.status).toBe(400);
    expect((update.body.details as Array<{ field: string }>).map((d) => d.field)).toContain('config.crl_shards');
  });
});
