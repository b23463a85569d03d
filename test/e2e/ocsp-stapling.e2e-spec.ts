import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptSecret } from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { certificateBody, createInventory, post } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * A real nginx with `ssl_stapling on` serving a Local CA leaf: it finds our responder through the leaf's AIA
 * OCSP URL, fetches the answer (nginx uses the RFC 5019 GET form), verifies it against the CA and staples it;
 * `openssl s_client -status` shows `good`; after a revoke and nginx's refresh (a reload) nginx fetches our `revoked`
 * answer, logs it, and staples nothing (nginx never staples a non-good answer).
 */
const nginxBinary = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const missing = nginxBinary ? undefined : 'nginx not installed (apt-get install -y nginx)';
if (missing && process.env.CI !== 'true') console.warn(`[ocsp-stapling.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

suite('OCSP stapling by a real nginx', () => {
  let p: PlatformHarness;
  const dir = mkdtempSync(join(tmpdir(), 'stapling-e2e-'));
  let nginxArgs: string[] = [];
  let tlsPort = 0;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and nginx cannot run: ${missing}`);
    const apiPort = await freePort();
    p = await startPlatform({ CERTCTL_PKI_BASE_URL: `http://127.0.0.1:${apiPort}`, CERTCTL_KEYGEN_MODE: 'server' });
    await p.app.listen(apiPort, '127.0.0.1');
  });
  afterAll(async () => {
    if (nginxArgs.length) {
      try { execFileSync(nginxBinary!, [...nginxArgs, '-s', 'stop'], { stdio: 'pipe' }); } catch { /* not running */ }
    }
    await p?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (file: string, args: string[]) => new Promise<string>((resolve) => {
    const child = execFile(file, args, { cwd: dir, encoding: 'utf8', timeout: 15_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
    child.stdin?.end();
  });
  /** What nginx staples, polled until `expected` shows (nginx fetches lazily, after the first handshake asks). */
  async function stapled(expected: RegExp, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let out = '';
    while (Date.now() < deadline) {
      out = await run('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', 'stapled.certctl.test', '-status', '-CAfile', 'ca.pem']);
      if (expected.test(out)) return out;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`nginx never stapled ${expected}; last s_client output:\n${out}`);
  }

  it('staples good; after a revoke and a reload nginx fetches `revoked` from us and stops stapling', async () => {
    const inv = await createInventory(p);
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { name: 'stapled.certctl.test', common_name: 'stapled.certctl.test', sans: ['stapled.certctl.test'] }));
    const job = await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202);
    expect((await p.waitForJob(job.body.job_id, ['Completed', 'Failed'])).status).toBe('Completed');
    const pem = (await p.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(p.auth()).expect(200)).body;
    const [{ encrypted_private_key: box }] = (await p.db.query('SELECT encrypted_private_key FROM certificate_versions WHERE certificate_id = $1', [cert.id])).rows;
    for (const d of ['conf', 'logs', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, 'fullchain.pem'), pem.full_pem);
    writeFileSync(join(dir, 'ca.pem'), pem.chain_pem);
    writeFileSync(join(dir, 'key.pem'), decryptSecret(box, process.env.CERTCTL_CONFIG_ENCRYPTION_KEY!), { mode: 0o600 });
    tlsPort = await freePort();
    writeFileSync(join(dir, 'conf', 'nginx.conf'), `
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'logs', 'error.log')} info;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  server {
    listen 127.0.0.1:${tlsPort} ssl;
    server_name stapled.certctl.test;
    ssl_certificate ${join(dir, 'fullchain.pem')};
    ssl_certificate_key ${join(dir, 'key.pem')};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_stapling on;
    ssl_stapling_verify on;
    ssl_trusted_certificate ${join(dir, 'ca.pem')};
    return 200 "ok";
  }
}
`);
    nginxArgs = ['-p', dir, '-e', join(dir, 'logs', 'error.log'), '-c', join(dir, 'conf', 'nginx.conf')];
    execFileSync(nginxBinary!, nginxArgs, { stdio: 'pipe' });

    const good = await stapled(/Cert Status: (good|revoked)/);
    expect(good).toContain('OCSP Response Status: successful');
    expect(good).toContain('Cert Status: good');
    const before = (await p.http.get('/api/v1/metrics').set(p.auth())).body.ocsp;
    expect(before.request_get).toBeGreaterThan(0); // nginx asked with the RFC 5019 GET form

    await p.http.post(`/api/v1/certificates/${cert.id}/revoke`).set(p.auth()).send({ reason: 'keyCompromise' }).expect(200);
    // nginx keeps a stapled answer for at least five minutes; its refresh here is a reload (new workers fetch anew).
    execFileSync(nginxBinary!, [...nginxArgs, '-s', 'reload'], { stdio: 'pipe' });
    // nginx (1.22) staples only `good` answers: it fetches ours, reads `revoked`, logs it and staples nothing.
    const deadline = Date.now() + 20_000;
    let log = '';
    while (Date.now() < deadline && !log.includes('certificate status "revoked" in the OCSP response')) {
      await run('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', 'stapled.certctl.test', '-status', '-CAfile', 'ca.pem']);
      log = readFileSync(join(dir, 'logs', 'error.log'), 'utf8');
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(log).toContain('certificate status "revoked" in the OCSP response');
    const after = await run('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', 'stapled.certctl.test', '-status', '-CAfile', 'ca.pem']);
    expect(after).toContain('OCSP response: no response sent');
    expect(after).not.toContain('Cert Status: good');
  });
});
