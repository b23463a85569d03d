import { createServer, connect, Server } from 'node:net';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboundPolicy, setOutboundPolicy } from '../../../config/src/outbound-url';
import { ReloadFailedError, TransportError, ValidateFailedError } from '../errors';
import { TestCa } from '../testing/material';
import { CaddyApiPeer, freePort, missingPeer } from '../testing/peers';
import { leafFingerprint, servedFingerprint } from '../verify';
import { connectorFor } from './registry';

const missing = missingPeer('caddy');
if (missing && process.env.CI !== 'true') console.warn(`[caddy-admin-connector.int-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('Caddy connector (admin API) against a real Caddy with its admin API on a unix socket', () => {
  let caddy: CaddyApiPeer;
  let ca: TestCa;
  const connector = () => connectorFor('Caddy')!;
  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and caddy cannot run: ${missing}`);
    ca = await TestCa.create();
    const placeholder = await ca.issue(['placeholder.test']);
    caddy = await CaddyApiPeer.start({ certPem: placeholder.certPem, chainPem: placeholder.chainPem, keyPem: placeholder.keyPem! }, { adminSocket: true });
    // The operator's setting (CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS) for this Caddy's socket directory.
    setOutboundPolicy({ ...outboundPolicy(), unixSocketDirs: [dirname(caddy.adminSocket!)] });
  });
  afterAll(() => caddy?.stop());

  const served = (name: string) => servedFingerprint({ host: '127.0.0.1', port: caddy.port, servername: name });
  const config = (name: string) => ({
    ...caddy.targetConfig(), post_deploy_verify: { endpoint: `127.0.0.1:${caddy.port}`, server_name: name },
    post_deploy_verify_attempts: 3, post_deploy_verify_backoff: '100ms', post_deploy_verify_max_backoff: '200ms',
  });

  it('loads two certificates side by side (one entry each), keeps the operator\'s own entry, and skips an identical redeploy', async () => {
    expect(caddy.adminApi).toMatch(/^unix\/\//);
    const a = { ...(await ca.issue(['a.test'])), certificateId: 'mc-a' };
    const b = { ...(await ca.issue(['b.test'])), certificateId: 'mc-b' };
    expect(await connector().deploy(config('a.test'), a, {})).toMatchObject({ reloaded: true, validateOk: true, verification: { status: 'success', fingerprint: leafFingerprint(a.certPem) } });
    expect(await connector().deploy(config('b.test'), b, {})).toMatchObject({ reloaded: true, verification: { status: 'success' } });
    expect(await served('a.test')).toBe(leafFingerprint(a.certPem));
    expect(await served('b.test')).toBe(leafFingerprint(b.certPem));

    const loadPem = (await caddy.config()).apps.tls.certificates.load_pem as Array<{ certificate: string; key: string; tags: string[] }>;
    expect(loadPem.map((e) => e.tags)).toEqual([['placeholder'], ['certctl:mc-a'], ['certctl:mc-b']]);
    expect(loadPem[1]).toMatchObject({ certificate: a.certPem + a.chainPem, key: a.keyPem });

    const changes = caddy.configChangeRequests();
    expect(await connector().deploy(config('a.test'), a, {})).toMatchObject({ skippedAsIdempotent: true, reloaded: false });
    expect(caddy.configChangeRequests()).toBe(changes);
    // A renewal replaces the certificate's own entry only.
    const a2 = { ...(await ca.issue(['a.test'])), certificateId: 'mc-a' };
    await connector().deploy(config('a.test'), a2, {});
    expect(await served('a.test')).toBe(leafFingerprint(a2.certPem));
    expect(await served('b.test')).toBe(leafFingerprint(b.certPem));
    expect(((await caddy.config()).apps.tls.certificates.load_pem as unknown[]).length).toBe(3);
    expect(await connector().validateOnly(caddy.targetConfig(), {})).toMatch(/answers; its config loads 3 PEM certificate\(s\), 2 deployed by certctl/);
  });

  it('a key Caddy rejects is a validate failure and leaves the running config as it was', async () => {
    const before = await caddy.config();
    const loads = caddy.configLoads();
    const [c, other] = [await ca.issue(['c.test']), await ca.issue(['c.test'])];
    const err = await connector().deploy(config('c.test'), { ...c, keyPem: other.keyPem, certificateId: 'mc-c' }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidateFailedError);
    expect((err as Error).message).toMatch(/Caddy rejected the new config: loading new config: .*private key does not match/);
    expect((err as Error).message).not.toContain('PRIVATE KEY');
    expect(await caddy.config()).toEqual(before);
    expect(caddy.configLoads()).toBe(loads);
  });

  it('creates apps.tls.certificates.load_pem when the running config has no TLS app yet', async () => {
    expect((await caddy.adminRequest('DELETE', '/config/apps/tls')).status).toBe(200);
    const d = { ...(await ca.issue(['d.test'])), certificateId: 'mc-d' };
    expect(await connector().deploy(config('d.test'), d, {})).toMatchObject({ reloaded: true, verification: { status: 'success' } });
    expect((await caddy.config()).apps.tls.certificates.load_pem.map((e: { tags: string[] }) => e.tags)).toEqual([['certctl:mc-d']]);
  });

  it('a change whose answer is lost after Caddy applied it (a reload with an unknown outcome) is rolled back to the previous config', async () => {
    // A unix-socket relay in front of Caddy's admin socket that cuts the connection as soon as Caddy answers the
    // first config change: Caddy has switched, certctl never hears so.
    const relayPath = caddy.scratch.path('relay.sock');
    let cut = 0;
    const relay: Server = createServer((client) => {
      const upstream = connect(caddy.adminSocket!);
      let change = false;
      client.once('data', (first: Buffer) => (change = !first.toString('latin1').startsWith('GET ')));
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (change && cut === 0) {
          cut++;
          client.destroy();
          upstream.destroy();
        } else client.write(chunk);
      });
      upstream.on('end', () => client.end());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(relayPath, resolve));
    try {
      const old = { ...(await ca.issue(['f.test'])), certificateId: 'mc-f' };
      await connector().deploy(config('f.test'), old, {});
      const before = await caddy.config();
      const loads = caddy.configLoads();
      const renewed = { ...(await ca.issue(['f.test'])), certificateId: 'mc-f' };
      const err = await connector().deploy({ ...config('f.test'), admin_api: `unix/${relayPath}` }, renewed, {}).catch((e: unknown) => e);
      expect(cut).toBe(1);
      expect(err).toBeInstanceOf(ReloadFailedError);
      expect(err).toMatchObject({ stage: 'reload', rollback: 'restored' });
      // Caddy did switch to the new config, then back to the previous one.
      expect(caddy.configLoads()).toBe(loads + 2);
      expect(await caddy.config()).toEqual(before);
      expect(await served('f.test')).toBe(leafFingerprint(old.certPem));
    } finally {
      relay.close();
    }
  });

  it('an admin API that does not answer is a transport error (retried), and the dry run says so', async () => {
    const closed = { mode: 'api', admin_api: `http://127.0.0.1:${await freePort()}`, timeout: '2s' };
    await expect(connector().deploy(closed, { ...(await ca.issue(['e.test'])), certificateId: 'mc-e' }, {})).rejects.toBeInstanceOf(TransportError);
    await expect(connector().validateOnly(closed, {})).rejects.toThrow(/Caddy admin API unreachable: .*ECONNREFUSED/);
  });
});

suite('Caddy connector (admin API) against a real Caddy run from a Caddyfile site with automatic HTTPS', () => {
  let caddy: CaddyApiPeer;
  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and caddy cannot run: ${missing}`);
    caddy = await CaddyApiPeer.startFromCaddyfile('site.test');
  });
  afterAll(() => caddy?.stop());

  it('the loaded certificate replaces the one Caddy manages for the site, and the rest of the TLS app is kept', async () => {
    const served = () => servedFingerprint({ host: '127.0.0.1', port: caddy.port, servername: 'site.test' });
    // Caddy issues the site's certificate from its local CA just after it starts listening.
    let managed: string | undefined;
    for (let i = 0; i < 100 && !managed; i++) managed = await served().catch(() => new Promise<undefined>((r) => setTimeout(r, 100)));
    const automation = (await caddy.config()).apps.tls.automation;
    expect(automation).toBeDefined();
    const m = { ...(await (await TestCa.create()).issue(['site.test'])), certificateId: 'mc-site' };
    const config = { ...caddy.targetConfig(), post_deploy_verify: { endpoint: `127.0.0.1:${caddy.port}`, server_name: 'site.test' }, post_deploy_verify_backoff: '100ms' };
    expect(await connectorFor('Caddy')!.deploy(config, m, {})).toMatchObject({ reloaded: true, verification: { status: 'success' } });
    expect(managed).toMatch(/^[0-9a-f]{64}$/);
    expect(await served()).not.toBe(managed);
    expect(await served()).toBe(leafFingerprint(m.certPem));
    const tls = (await caddy.config()).apps.tls;
    expect(tls.automation).toEqual(automation);
    expect(tls.certificates.load_pem.map((e: { tags: string[] }) => e.tags)).toEqual([['certctl:mc-site']]);
  });
});
