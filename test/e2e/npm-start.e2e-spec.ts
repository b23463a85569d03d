import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnvironment, freePort, TestEnvironment } from '@certctl/testing';
import { waitFor } from '../support/notifier-peers';
import { requireBuilt } from '../support/surface-harness';

const ROOT = resolve(__dirname, '..', '..');
const BUILT_START = join(ROOT, 'dist', 'scripts', 'start.js');
const run = promisify(execFile);

/**
 * `npm start` as a new user meets it (the built scripts/start.js, all five apps as child processes), on this test
 * file's database and queue prefix: every alert reaches the local sink (none dead, none skipped), the boot log says
 * which alert channels are configured, and an issued leaf says where its revocation lives, which OpenSSL follows.
 */
describe('npm start, first day', () => {
  let env: TestEnvironment;
  let db: Client;
  let child: ChildProcess;
  let output = '';
  let base: string;
  let pkiBase: string;
  let adminKey: string;
  const dataDir = mkdtempSync(join(tmpdir(), 'certctl-start-'));

  beforeAll(async () => {
    env = await createTestEnvironment();
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    const [api, orchestrator, notifier, scanner, responder] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    base = `http://127.0.0.1:${api}`;
    pkiBase = `http://127.0.0.1:${responder}`;
    child = spawn(process.execPath, [requireBuilt(BUILT_START)], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir,
        CERTCTL_DATABASE_URL: env.env.CERTCTL_DATABASE_URL!, CERTCTL_REDIS_URL: env.env.CERTCTL_REDIS_URL!, CERTCTL_QUEUE_PREFIX: env.env.CERTCTL_QUEUE_PREFIX!,
        CERTCTL_DATA_DIR: dataDir, CERTCTL_LOG_LEVEL: 'info',
        CERTCTL_SERVER_PORT: String(api), CERTCTL_ORCHESTRATOR_PORT: String(orchestrator), CERTCTL_NOTIFIER_PORT: String(notifier),
        CERTCTL_SCANNER_PORT: String(scanner), CERTCTL_RESPONDER_PORT: String(responder),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => (output += text));
    }
    await waitFor('the banner', () => output.includes('certctl is running') || child.exitCode !== null, 120_000);
    if (!output.includes('certctl is running')) throw new Error(`npm start did not start:\n${output.slice(-4000)}`);
    adminKey = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim();
  }, 180_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGINT');
      await exited;
    }
    await db?.end();
    await env?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method, headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };

  async function renewAndWait(certificateId: string): Promise<void> {
    const { job_id } = await api('POST', `/api/v1/certificates/${certificateId}/renew`);
    await waitFor(`job ${job_id}`, async () => ['Completed', 'Failed'].includes((await api('GET', `/api/v1/jobs/${job_id}`)).status), 60_000);
    const job = await api('GET', `/api/v1/jobs/${job_id}`);
    expect(job.status, job.last_error).toBe('Completed');
  }

  it('prints a short boot: Nest\'s per-route lines are at debug, so the banner comes after a screenful, not hundreds of lines', () => {
    const before = output.slice(0, output.indexOf('certctl is running')).split('\n').filter((l) => l.trim());
    process.stdout.write(`npm start: ${before.length} lines before the banner\n`);
    expect(before.filter((l) => /Mapped \{|RouterExplorer|RoutesResolver|InstanceLoader/.test(l))).toEqual([]);
    expect(before.length).toBeLessThan(60);
  });

  it('says which alert channels are configured, and sets where revocation lives', () => {
    expect(output).toContain('alert channels configured: Webhook; alerts for the others are recorded as skipped');
    expect(output).toContain(`CRL / OCSP    ${pkiBase}/.well-known/pki`);
    expect(output).not.toContain('CERTCTL_PKI_BASE_URL is not set');
  });

  it('issues leaves with a CRL distribution point and an OCSP address that OpenSSL can use', async () => {
    await renewAndWait('mc-www');
    const { data: versions } = await api('GET', '/api/v1/certificates/mc-www/versions');
    const pems = (versions[0].pem_chain as string).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
    expect(pems.length).toBeGreaterThanOrEqual(2);
    writeFileSync(join(dataDir, 'leaf.pem'), pems[0]!);
    writeFileSync(join(dataDir, 'issuer.pem'), pems.slice(1).join(''));
    const { stdout: extensions } = await run('openssl', ['x509', '-in', join(dataDir, 'leaf.pem'), '-noout', '-ext', 'crlDistributionPoints,authorityInfoAccess']);
    expect(extensions).toContain(`URI:${pkiBase}/.well-known/pki/crl/iss-local`);
    expect(extensions).toContain(`OCSP - URI:${pkiBase}/.well-known/pki/ocsp/iss-local`);
    const crl = await fetch(`${pkiBase}/.well-known/pki/crl/iss-local`);
    expect(crl.status).toBe(200);
    const { stdout: ocsp } = await run('openssl', [
      'ocsp', '-issuer', join(dataDir, 'issuer.pem'), '-cert', join(dataDir, 'leaf.pem'), '-url', `${pkiBase}/.well-known/pki/ocsp/iss-local`,
      '-CAfile', join(dataDir, 'issuer.pem'), '-no_nonce',
    ]);
    expect(ocsp).toContain(`${join(dataDir, 'leaf.pem')}: good`);
  });

  it('delivers every alert to the local sink, for the demo policy and for a certificate with no policy: none dead or skipped', async () => {
    const created = await api('POST', '/api/v1/certificates', {
      name: 'first-day.example.com', common_name: 'first-day.example.com', sans: ['first-day.example.com'], owner_id: 'owner-alice', issuer_id: 'iss-local',
    });
    await renewAndWait(created.id);
    const alerts = async (certificateId: string) =>
      (await db.query(`SELECT channel, status, last_error FROM notification_events WHERE certificate_id = $1`, [certificateId])).rows;
    for (const certificateId of ['mc-www', created.id]) {
      await waitFor(`the alerts of ${certificateId} to be sent`, async () => {
        const rows = await alerts(certificateId);
        return rows.length > 0 && rows.every((r) => r.status === 'sent');
      }, 30_000);
      expect((await alerts(certificateId)).map((r) => r.channel)).toEqual(expect.arrayContaining(['Webhook']));
    }
    const { rows: [undelivered] } = await db.query(`SELECT count(*)::int AS n FROM notification_events WHERE status IN ('dead', 'skipped', 'failed')`);
    expect(undelivered.n).toBe(0);
    expect(output).toMatch(/alert \[info\] RenewalSuccess/);
  });
});
