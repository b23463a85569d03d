import { chmodSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { certificateBody, createInventory, Inventory, keyWithRole, post, unique } from '../support/fixtures';
import { waitFor } from '../support/notifier-peers';
import { clientEnv, CliResult, ROOT, runBuiltCli, startSurfacePlatform, SurfaceHarness } from '../support/surface-harness';
import { closeAll, startTlsListener, TestPki } from '../support/tls-fleet';

/**
 * The built `certctl` CLI as a child process against the real stack (api on a loopback port, orchestrator,
 * notifier, scanner; PostgreSQL and Redis): table and JSON output, exit codes (0 ok, 1 failed, 2 usage,
 * 3 not configured, 4 not found), the api's messages in one line, dead notifications requeued, --wait.
 */
describe('certctl CLI (built, child process)', () => {
  let h: SurfaceHarness;
  let inv: Inventory;
  let cli: (args: string[], key?: string | null, extraEnv?: Record<string, string>) => Promise<CliResult>;

  beforeAll(async () => {
    h = await startSurfacePlatform();
    inv = await createInventory(h);
    cli = (args, key = h.adminKey, extraEnv = {}) =>
      runBuiltCli(args, clientEnv(h, { CERTCTL_SERVER_URL: h.serverUrl, CERTCTL_API_KEY: key ?? undefined, ...extraEnv }));
  });
  afterAll(async () => h?.close());

  const oneLine = (text: string) => text.trimEnd().split('\n');
  const newCertificate = async (overrides: Record<string, unknown> = {}) => post(h, '/api/v1/certificates', certificateBody(inv, overrides));

  it('certs list: a table with the rows and the total, and the api envelope as JSON; filters reach the api', async () => {
    const a = await newCertificate({ environment: 'cli-list' });
    const b = await newCertificate({ environment: 'cli-list' });
    await newCertificate({ environment: 'elsewhere' });

    const table = await cli(['certs', 'list', '--environment', 'cli-list', '--sort', 'name']);
    expect(table.code, table.stderr).toBe(0);
    const lines = oneLine(table.stdout);
    expect(lines[0]).toMatch(/^ID\s+NAME\s+COMMON NAME\s+STATUS\s+EXPIRES\s+ENV$/);
    const sorted = [a, b].sort((x, y) => String(x.name).localeCompare(String(y.name)));
    expect(lines[1]).toMatch(new RegExp(`^${sorted[0].id}\\s+${sorted[0].name}\\s+${sorted[0].common_name}\\s+Pending\\s+-\\s+cli-list$`));
    expect(lines[2]).toContain(sorted[1].id);
    expect(lines.at(-1)).toBe('2 certificates');

    const json = await cli(['certs', 'list', '--environment', 'cli-list', '-o', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(body).toMatchObject({ total: 2, page: 1, per_page: 50 });
    expect(body.data.map((c: { id: string }) => c.id).sort()).toEqual([a.id, b.id].sort());

    // The global option may also come first; a page smaller than the total says which page it is.
    const paged = await cli(['--output', 'table', 'certs', 'list', '--environment', 'cli-list', '--per-page', '1']);
    expect(oneLine(paged.stdout).at(-1)).toBe('2 certificates (page 1, 1 per page)');
  });

  it('certs get: the record as field/value lines and as JSON; an unknown id is one line with the api message, exit 4', async () => {
    const cert = await newCertificate();
    const table = await cli(['certs', 'get', cert.id]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^id\\s+${cert.id}$`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^common_name\\s+${cert.common_name}$`, 'm'));
    const json = await cli(['certs', 'get', cert.id, '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: cert.id, status: 'Pending', owner_id: inv.ownerId });

    const apiAnswer = (await h.http.get('/api/v1/certificates/mc-no-such-cert').set(h.auth()).expect(404)).body;
    const missing = await cli(['certs', 'get', 'mc-no-such-cert']);
    expect(missing.code).toBe(4);
    expect(missing.stdout).toBe('');
    expect(oneLine(missing.stderr)).toEqual([`certctl: ${apiAnswer.message} [HTTP 404 ${apiAnswer.code}]`]);
  });

  it('without a key says so in one line and exits 3 before calling anything; a config file supplies server and key', async () => {
    const noKey = await cli(['certs', 'list'], null);
    expect(noKey.code).toBe(3);
    expect(oneLine(noKey.stderr)).toHaveLength(1);
    expect(noKey.stderr).toMatch(/^certctl: no API key: set CERTCTL_API_KEY/);

    await newCertificate();
    const configPath = join(h.home, 'certctl.json');
    writeFileSync(configPath, JSON.stringify({ server_url: h.serverUrl, api_key: h.adminKey }), { mode: 0o600 });
    const fromFile = await runBuiltCli(['certs', 'list', '-o', 'json'], clientEnv(h, { CERTCTL_CONFIG: configPath }));
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout).total).toBeGreaterThan(0);
    expect(fromFile.stderr).toBe('');
    chmodSync(configPath, 0o644);
    const exposed = await runBuiltCli(['certs', 'list', '-o', 'json'], clientEnv(h, { CERTCTL_CONFIG: configPath }));
    expect(exposed.code, exposed.stderr).toBe(0);
    expect(exposed.stderr).toBe(`certctl: warning: config file ${configPath} holds an API key and other users may read it: chmod 600 ${configPath}\n`);

    const wrongKey = await cli(['certs', 'list'], 'not-a-real-key-0123456789');
    expect(wrongKey.code).toBe(1);
    expect(oneLine(wrongKey.stderr)).toHaveLength(1);
    expect(wrongKey.stderr).toContain('[HTTP 401');

    const closed = await cli(['certs', 'list', '--server', `http://127.0.0.1:${await freePort()}`]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/^certctl: cannot reach certctl at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('a fake proxy answering 502 with HTML, or 200 with garbage, is one line and exit 1 (never a stack trace)', async () => {
    const { createServer } = await import('node:http');
    const proxy = createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/certificates/mc-garbage')) res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"id": ');
      else res.writeHead(502, { 'Content-Type': 'text/html' }).end('<html><body>Bad Gateway</body></html>');
    });
    const port = await freePort();
    await new Promise<void>((ready) => proxy.listen(port, '127.0.0.1', ready));
    try {
      const html = await cli(['certs', 'list', '--server', `http://127.0.0.1:${port}`]);
      expect(html.code).toBe(1);
      expect(html.stderr).toBe('certctl: HTTP 502 Bad Gateway [NOT_FROM_CERTCTL]\n');
      const garbage = await cli(['certs', 'get', 'mc-garbage', '--server', `http://127.0.0.1:${port}`]);
      expect(garbage.code).toBe(1);
      expect(garbage.stderr).toBe(`certctl: the server at http://127.0.0.1:${port} answered GET /certificates/mc-garbage with something that is not JSON [HTTP 200 MALFORMED_RESPONSE]\n`);
    } finally {
      await new Promise<void>((closed) => proxy.close(() => closed()));
    }
  });

  it('usage errors exit 2: unknown command, bad option value, missing argument, requeue without an id or --all-dead', async () => {
    for (const args of [['certz', 'list'], ['certs', 'list', '-o', 'yaml'], ['certs', 'get'], ['notifications', 'requeue'],
      ['certs', 'list', '--per-page', 'ten'], ['certs', 'revoke', 'mc-x', '--reason', 'because']]) {
      const result = await cli(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/error: /);
    }
  });

  it('certs renew and export: the job completes, export prints the chain (never a key); a viewer gets the api 403 message', async () => {
    const cert = await newCertificate();
    const renewed = await cli(['certs', 'renew', cert.id, '-o', 'json']);
    expect(renewed.code, renewed.stderr).toBe(0);
    const { job_id: jobId } = JSON.parse(renewed.stdout);
    await h.waitForJob(jobId, ['Completed']);

    const apiPem = (await h.http.get(`/api/v1/certificates/${cert.id}/export/pem`).set(h.auth()).expect(200)).body;
    const exported = await cli(['certs', 'export', cert.id]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toBe(apiPem.full_pem);
    expect(exported.stdout).toContain('-----BEGIN CERTIFICATE-----');
    expect(exported.stdout).not.toContain('PRIVATE KEY');

    const again = await cli(['certs', 'renew', cert.id]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^renewal triggered for ${cert.id}: job job-\\S+ \\(Pending\\)$`, 'm'));

    const viewer = await keyWithRole(h, 'viewer');
    const apiAnswer = (await h.http.post(`/api/v1/certificates/${cert.id}/renew`).set(h.auth(viewer)).send({}).expect(403)).body;
    const refused = await cli(['certs', 'renew', cert.id], viewer);
    expect(refused.code).toBe(1);
    expect(oneLine(refused.stderr)).toEqual([`certctl: ${apiAnswer.message} [HTTP 403 ${apiAnswer.code}]`]);
  });

  it('certs revoke sends {reason} to POST /certificates/{id}/revoke and shows what the api answered', async () => {
    const cert = await newCertificate();
    const probe = await newCertificate();
    // The same request straight to the api says what to expect on this branch (the route is built elsewhere).
    const direct = await h.http.post(`/api/v1/certificates/${probe.id}/revoke`).set(h.auth()).send({ reason: 'superseded' });
    const revoked = await cli(['certs', 'revoke', cert.id, '--reason', 'keyCompromise']);
    await h.flushAudit();
    const audited = await h.db.query(`SELECT details FROM audit_events WHERE action = 'api_post' AND resource_id = $1`, [`/api/v1/certificates/${cert.id}/revoke`]);
    expect(audited.rows, 'the CLI made the request').toHaveLength(1);
    if (direct.status >= 200 && direct.status < 300) {
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toBe(`certificate ${cert.id} revoked (keyCompromise)\n`);
      const after = (await h.http.get(`/api/v1/certificates/${cert.id}`).set(h.auth())).body;
      expect(after).toMatchObject({ status: 'Revoked', revocation_reason: 'keyCompromise' });
    } else {
      expect(revoked.code).toBe(direct.status === 404 ? 4 : 1);
      const expected = String(direct.body.message).replace(probe.id, cert.id);
      expect(oneLine(revoked.stderr)).toEqual([`certctl: ${expected} [HTTP ${direct.status} ${direct.body.code}]`]);
    }
  });

  it('bulk-renew --wait draws a progress bar until every job is done and reports the counts', async () => {
    const team = await post(h, '/api/v1/teams', { name: unique('bulk-team') });
    const certs = await Promise.all([1, 2, 3].map(() => newCertificate({ team_id: team.id })));
    const result = await cli(['bulk-renew', '--team-id', team.id, '--wait']);
    expect(result.code, result.stderr).toBe(0);
    const progress = oneLine(result.stderr);
    expect(progress.at(-1)).toMatch(/^\[#{30}\] 3\/3 100% done$/);
    expect(progress.every((line) => /^\[[#.]{30}\] \d\/3 \d+% done/.test(line))).toBe(true);
    expect(result.stdout).toContain('matched 3, enqueued 3, skipped 0, failed 0');
    expect(result.stdout).toContain('jobs: 3 Completed');
    const { rows } = await h.db.query(`SELECT status FROM managed_certificates WHERE id = ANY($1)`, [certs.map((c) => c.id)]);
    expect(rows.map((r) => r.status)).toEqual(['Active', 'Active', 'Active']);

    const none = await cli(['bulk-renew']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^certctl: .*give at least one of .* \[HTTP 400/);
  });

  it('certs bulk-revoke asks first (no answer, no revocation), then revokes what matches; --yes, JSON, failures and a viewer', async () => {
    const team = await post(h, '/api/v1/teams', { name: unique('revoke-team') });
    const certs = await Promise.all([1, 2].map(() => newCertificate({ team_id: team.id })));
    const statuses = async (ids: string[]) => (await h.db.query(`SELECT status FROM managed_certificates WHERE id = ANY($1) ORDER BY id`, [ids])).rows.map((r) => r.status);
    const args = ['certs', 'bulk-revoke', '--team-id', team.id, '--reason', 'superseded'];

    const declined = await runBuiltCli(args, clientEnv(h, { CERTCTL_SERVER_URL: h.serverUrl, CERTCTL_API_KEY: h.adminKey }), 60_000, 'n\n');
    expect(declined.code).toBe(1);
    expect(declined.stderr).toContain(`Revoke every certificate matching team_id=${team.id} (reason superseded)? This cannot be undone. [y/N] `);
    expect(declined.stderr).toContain('certctl: bulk revoke not confirmed; nothing was revoked (--yes skips the question)');
    const noAnswer = await runBuiltCli(args, clientEnv(h, { CERTCTL_SERVER_URL: h.serverUrl, CERTCTL_API_KEY: h.adminKey }), 60_000, '');
    expect(noAnswer.code).toBe(1);
    expect(await statuses(certs.map((c) => c.id))).toEqual(['Pending', 'Pending']);

    const confirmed = await runBuiltCli(args, clientEnv(h, { CERTCTL_SERVER_URL: h.serverUrl, CERTCTL_API_KEY: h.adminKey }), 60_000, 'y\n');
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(oneLine(confirmed.stdout)).toEqual([expect.stringMatching(/^MATCHED\s+REVOKED\s+SKIPPED\s+FAILED$/), expect.stringMatching(/^2\s+2\s+0\s+0$/)]);
    expect(await statuses(certs.map((c) => c.id))).toEqual(['Revoked', 'Revoked']);
    const revoked = (await h.http.get(`/api/v1/certificates/${certs[0].id}`).set(h.auth())).body;
    expect(revoked.revocation_reason).toBe('superseded');

    // Already revoked ones are skipped; an unknown id is a failure in the envelope, and the exit code says so.
    const fresh = await newCertificate();
    const json = await cli(['certs', 'bulk-revoke', '--certificate-ids', `${certs[0].id},${fresh.id},mc-no-such-cert`, '--yes', '-o', 'json']);
    expect(json.code).toBe(1);
    const envelope = JSON.parse(json.stdout);
    expect(envelope).toMatchObject({ total_revoked: 1, total_skipped: 1, total_failed: 1, errors: [{ certificate_id: 'mc-no-such-cert' }] });
    expect(oneLine(json.stderr)).toEqual([expect.stringMatching(/^certctl: 1 of the matched certificates could not be revoked \(first: mc-no-such-cert: .+\)$/)]);
    expect(await statuses([fresh.id])).toEqual(['Revoked']);

    const other = await newCertificate();
    const viewer = await keyWithRole(h, 'viewer');
    const forbidden = (await h.http.post('/api/v1/certificates/bulk-revoke').set(h.auth(viewer)).send({ certificate_ids: [other.id] }).expect(403)).body;
    const refused = await cli(['certs', 'bulk-revoke', '--certificate-ids', other.id, '--yes'], viewer);
    expect(refused.code).toBe(1);
    expect(oneLine(refused.stderr)).toEqual([`certctl: ${forbidden.message} [HTTP 403 ${forbidden.code}]`]);
    expect(await statuses([other.id])).toEqual(['Pending']);

    const none = await cli(['certs', 'bulk-revoke', '--yes']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^certctl: .*give at least one of .* \[HTTP 400/);
    const badReason = await cli(['certs', 'bulk-revoke', '--team-id', team.id, '--reason', 'whim', '--yes']);
    expect(badReason.code).toBe(2);
  });

  it('jobs list, approve and reject a job held by the approval gate (as another operator)', async () => {
    const profile = await post(h, '/api/v1/profiles', { name: unique('gated'), requires_approval: true });
    const cert = await newCertificate({ certificate_profile_id: profile.id });
    const requester = await keyWithRole(h, 'operator');
    const approver = await keyWithRole(h, 'operator');
    const first = JSON.parse((await cli(['certs', 'renew', cert.id, '-o', 'json'], requester)).stdout);
    expect(first.job_status).toBe('AwaitingApproval');

    const held = await cli(['jobs', 'list', '--status', 'AwaitingApproval', '--certificate-id', cert.id]);
    expect(held.code, held.stderr).toBe(0);
    expect(oneLine(held.stdout)[1]).toMatch(new RegExp(`^${first.job_id}\\s+Issuance\\s+${cert.id}\\s+AwaitingApproval\\s`));

    const approved = await cli(['jobs', 'approve', first.job_id, '--note', 'ticket 7'], approver);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(new RegExp(`^job ${first.job_id} approved: now \\w+$`, 'm'));
    expect(await h.waitForJob(first.job_id, ['Completed'])).toMatchObject({ decision_note: 'ticket 7' });

    const second = JSON.parse((await cli(['certs', 'renew', cert.id, '-o', 'json'], requester)).stdout);
    const rejected = await cli(['jobs', 'reject', second.job_id, '-o', 'json'], approver);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(JSON.parse(rejected.stdout)).toMatchObject({ id: second.job_id, status: 'Cancelled' });
    const unknown = await cli(['jobs', 'approve', 'job-unknown'], approver);
    expect(unknown.code).toBe(4);
  });

  it('notifications: a webhook to a closed loopback port goes dead; list --status dead shows it; requeue <id> and --all-dead send it again', async () => {
    const closedPort = await freePort();
    const raise = async () => (await post(h, '/api/v1/notifications', {
      type: 'RenewalFailure', channel: 'Webhook', recipient: `http://127.0.0.1:${closedPort}/hook`, message: 'cli test',
    })).id as string;
    const status = async (id: string) => (await h.db.query('SELECT status, retry_count FROM notification_events WHERE id = $1', [id])).rows[0];
    const untilDead = (id: string) => waitFor(`${id} dead`, async () => (await status(id)).status === 'dead');
    const [one, two] = [await raise(), await raise()];
    await untilDead(one);
    await untilDead(two);

    const dead = await cli(['notifications', 'list', '--status', 'dead', '-o', 'json']);
    expect(dead.code, dead.stderr).toBe(0);
    const deadIds = JSON.parse(dead.stdout).data.map((n: { id: string }) => n.id);
    expect(deadIds).toEqual(expect.arrayContaining([one, two]));
    const table = await cli(['notifications', 'list', '--status', 'dead']);
    expect(table.stdout).toMatch(new RegExp(`^${one}\\s+RenewalFailure\\s+Webhook\\s+dead\\s+1\\s`, 'm'));

    const requeued = await cli(['notifications', 'requeue', one]);
    expect(requeued.code, requeued.stderr).toBe(0);
    expect(requeued.stdout).toBe(`notification ${one} requeued: now pending\n`);
    // The notifier takes it again (and the closed port kills it again).
    await untilDead(one);

    const all = await cli(['notifications', 'requeue', '--all-dead', '--type', 'RenewalFailure', '-o', 'json']);
    expect(all.code, all.stderr).toBe(0);
    const bulk = JSON.parse(all.stdout);
    expect(bulk.total_requeued).toBeGreaterThanOrEqual(2);
    expect(bulk.notification_ids).toEqual(expect.arrayContaining([one, two]));

    const notDead = await cli(['notifications', 'requeue', 'notif-unknown']);
    expect(notDead.code).toBe(4);
    expect(oneLine(notDead.stderr)).toHaveLength(1);
  });

  it('agents list shows registered agents', async () => {
    const agent = await post(h, '/api/v1/agents', { name: unique('web-host') });
    const table = await cli(['agents', 'list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${agent.id}\\s+${agent.name}\\s+\\S+\\s+Offline\\s`, 'm'));
    const json = JSON.parse((await cli(['agents', 'list', '-o', 'json'])).stdout);
    expect(json.total).toBeGreaterThanOrEqual(1);
  });

  it('scan run <name> --wait follows a real scan of a loopback TLS listener to the end', async () => {
    const port = await freePort();
    const listener: Server = await startTlsListener('127.0.0.1', port, await TestPki.selfSigned('cli-scan.test'));
    try {
      const name = unique('cli-scan');
      await post(h, '/api/v1/network-scan-targets', { name, cidrs: ['127.0.0.1/32'], ports: [port], timeout_ms: 2000 });
      const result = await cli(['scan', 'run', name, '--wait']);
      expect(result.code, result.stderr).toBe(0);
      expect(oneLine(result.stderr).at(-1)).toMatch(/^\[#{30}\] 1\/1 100% Completed, 1 found, 0 errors$/);
      const lines = oneLine(result.stdout);
      expect(lines[0]).toMatch(/^SCAN\s+STATUS\s+ADDRESSES\s+FOUND\s+NEW\s+ERRORS$/);
      expect(lines[1]).toMatch(/^dscan-\S+\s+Completed\s+1\/1\s+1\s+1\s+0$/);
      const unknown = await cli(['scan', 'run', 'no-such-target']);
      expect(unknown.code).toBe(4);
    } finally {
      await closeAll([listener]);
    }
  });

  it('keys create, list and revoke; the revoked key is refused', async () => {
    const name = unique('cli-key');
    const created = await cli(['keys', 'create', '--name', name, '--role', 'viewer', '-o', 'json']);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key).toMatchObject({ name, role: 'viewer', key: expect.any(String) });
    expect((await cli(['certs', 'list'], key.key)).code).toBe(0);

    const listed = await cli(['keys', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`^${key.id}\\s+${name}\\s+viewer\\s`, 'm'));
    expect(listed.stdout).not.toContain(key.key);
    const revoked = await cli(['keys', 'revoke', key.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`key ${key.id} (${name}) revoked\n`);
    const refused = await cli(['certs', 'list'], key.key);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[HTTP 401');
  });

  it('certs create --issue --wait: a CLI user registers a certificate and has it issued; a missing field is the api\'s 400', async () => {
    const cn = `${unique('cli-new')}.example.com`;
    const created = await cli(['certs', 'create', '--common-name', cn, '--san', `${cn},www.${cn}`, '--owner-id', inv.ownerId, '--issuer-id', inv.issuerId,
      '--team-id', inv.teamId, '--environment', 'cli-create', '--tag', 'service=web', '--issue', '--wait', '-o', 'json']);
    expect(created.code, created.stderr).toBe(0);
    const { certificate, job } = JSON.parse(created.stdout);
    expect(certificate).toMatchObject({ name: cn, common_name: cn, sans: [cn, `www.${cn}`], environment: 'cli-create', tags: { service: 'web' } });
    expect(job).toMatchObject({ certificate_id: certificate.id, status: 'Completed' });
    const shown = await cli(['certs', 'get', certificate.id, '-o', 'json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ status: 'Active', expires_at: expect.any(String) });

    const refused = await cli(['certs', 'create', '--common-name', 'bad name!', '--owner-id', inv.ownerId, '--issuer-id', 'no-such-issuer']);
    expect(refused.code).toBe(1);
    expect(oneLine(refused.stderr)).toHaveLength(1);
    expect(refused.stderr).toContain('[HTTP 400');
  });

  it('targets create and list: config from --config-json and --set fields; a bad config is the api\'s 400 naming the field', async () => {
    const name = unique('cli-target');
    const dir = join(h.home, name);
    const created = await cli(['targets', 'create', '--name', name, '--type', 'File', '--config-json', JSON.stringify({ cert_path: join(dir, 'cert.pem') }),
      '--set', `key_path=${join(dir, 'key.pem')}`, '-o', 'json']);
    expect(created.code, created.stderr).toBe(0);
    const target = JSON.parse(created.stdout);
    expect(target).toMatchObject({ name, type: 'File', config: { cert_path: join(dir, 'cert.pem'), key_path: join(dir, 'key.pem') } });
    const listed = await cli(['targets', 'list', '--type', 'File', '--search', name]);
    expect(listed.stdout).toMatch(new RegExp(`^${target.id}\\s+${name}\\s+File`, 'm'));
    const bad = await cli(['targets', 'create', '--name', unique('bad'), '--type', 'NGINX', '--set', 'cert_path=relative.pem']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('config.');
    const usage = await cli(['targets', 'create', '--name', 'x', '--type', 'File', '--config-json', '[1]']);
    expect(usage.code).toBe(2);
  });

  it('login: checks the key, saves server and key in the config file (0600), and later commands use it; a wrong key saves nothing', async () => {
    const configPath = join(h.home, 'login', 'config.json');
    const env = clientEnv(h, { CERTCTL_CONFIG: configPath });
    const wrong = await runBuiltCli(['login', '--server', h.serverUrl], env, 60_000, 'cck_not-a-key\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('[HTTP 401');
    const { existsSync, readFileSync, statSync } = await import('node:fs');
    expect(existsSync(configPath)).toBe(false);

    const ok = await runBuiltCli(['login', '--server', h.serverUrl], env, 60_000, `${h.adminKey}\n`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^logged in to ${h.serverUrl.replace(/[.]/g, '\\.')} as .+ \\(admin\\); saved in ${configPath.replace(/[.]/g, '\\.')}$`, 'm'));
    expect(ok.stdout).not.toContain(h.adminKey);
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(configPath, 'utf8'))).toEqual({ server_url: h.serverUrl, api_key: h.adminKey });
    const after = await runBuiltCli(['certs', 'list', '-o', 'json'], env);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ page: 1 });
  });

  it('audit verify: exit 0 on an intact chain, exit 1 naming the first broken row', async () => {
    await h.flushAudit();
    const intact = await cli(['audit', 'verify']);
    expect(intact.code, intact.stderr).toBe(0);
    expect(intact.stdout).toMatch(/^audit chain intact: \d+ rows checked$/m);
    // This api has no CERTCTL_AUDIT_HMAC_KEY: the answer says the chain is only an unkeyed hash.
    expect(intact.stdout).toMatch(/^warning: CERTCTL_AUDIT_HMAC_KEY is not set/m);

    const { rows } = await h.db.query(`SELECT id, seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 1`);
    await h.db.query('ALTER TABLE audit_events DISABLE TRIGGER trg_audit_events_worm');
    await h.db.query(`UPDATE audit_events SET actor = 'mallory' WHERE id = $1`, [rows[0].id]);
    await h.db.query('ALTER TABLE audit_events ENABLE TRIGGER trg_audit_events_worm');
    const broken = await cli(['audit', 'verify', '-o', 'json']);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ intact: false, first_break: { id: rows[0].id } });
    expect(oneLine(broken.stderr)).toEqual([expect.stringMatching(new RegExp(`^certctl: audit chain broken at row ${rows[0].seq} \\(${rows[0].id}\\): `))]);
  });

  it('npx certctl runs the built CLI through the bin entry of package.json', async () => {
    const { execFile } = await import('node:child_process');
    const viaNpx = await new Promise<{ code: number; stdout: string }>((done) => {
      execFile('npx', ['--no-install', 'certctl', 'certs', 'list', '-o', 'json'], {
        cwd: ROOT, env: { ...clientEnv(h, { CERTCTL_SERVER_URL: h.serverUrl, CERTCTL_API_KEY: h.adminKey }), npm_config_update_notifier: 'false' },
      }, (err, stdout) => done({ code: err ? Number(err.code) : 0, stdout }));
    });
    expect(viaNpx.code).toBe(0);
    expect(JSON.parse(viaNpx.stdout)).toMatchObject({ page: 1, per_page: 50 });
  });

  it('completion bash: the generated script completes commands, subcommands and option values in a real bash', async () => {
    const script = await cli(['completion', 'bash'], null);
    expect(script.code, script.stderr).toBe(0);
    const scriptPath = join(h.home, 'certctl.bash');
    writeFileSync(scriptPath, script.stdout);
    const complete = async (...words: string[]) => {
      const probe = `source ${scriptPath}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _certctl_completion; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const { execFileSync } = await import('node:child_process');
      return execFileSync('bash', ['-c', probe], { encoding: 'utf8' }).trim().split('\n');
    };
    expect(await complete('certctl', 'ce')).toEqual(['certs']);
    expect(await complete('certctl', 'certs', '')).toEqual(expect.arrayContaining(['list', 'get', 'renew', 'revoke', 'bulk-revoke', 'export']));
    expect(await complete('certctl', 'notifications', 'requeue', '--al')).toEqual(['--all-dead']);
    expect(await complete('certctl', 'certs', 'list', '-o', '')).toEqual(['table', 'json']);
    expect(await complete('certctl', 'certs', 'revoke', 'mc-1', '--reason', 'key')).toEqual(['keyCompromise']);
    expect(await complete('certctl', '--server', 'http://x', 'jobs', '')).toEqual(expect.arrayContaining(['list', 'approve', 'reject']));

    const zsh = await cli(['completion', 'zsh'], null);
    expect(zsh.stdout).toMatch(/^autoload -U \+X compinit/);
    expect(zsh.stdout).toContain('complete -F _certctl_completion certctl');
  });
});
