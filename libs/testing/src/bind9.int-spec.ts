import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bind9, bind9Missing, sendDnsUpdate, startBind9 } from './bind9';
import { freePort } from './local-services';
import { onPath, Pebble, pebbleMissing, startPebble } from './pebble';

/**
 * The BIND9 fixture as the ACME clients will use it: its TSIG key lets lego's rfc2136 provider and
 * certbot-dns-rfc2136 write their dns-01 TXT records, and Pebble (validating through this BIND9 instead of
 * challtestsrv) reads them. A wrong key is refused, so the update policy is real.
 */
const run = promisify(execFile);
const CERTBOT_RFC2136 = '/usr/lib/python3/dist-packages/certbot_dns_rfc2136';
const missing = bind9Missing() ?? pebbleMissing();
const clientsMissing = [
  onPath('lego') ? undefined : 'lego not on PATH (apt-get install -y lego)',
  onPath('certbot') && existsSync(CERTBOT_RFC2136) ? undefined : 'certbot with its rfc2136 plugin missing (apt-get install -y certbot python3-certbot-dns-rfc2136)',
].filter(Boolean).join('; ');
const ci = process.env.CI === 'true';
if (missing && !ci) console.warn(`[bind9.int-spec] skipped: ${missing}`);
if (clientsMissing && !ci) console.warn(`[bind9.int-spec] ACME client part skipped: ${clientsMissing}`);
const suite = missing && !ci ? describe.skip : describe;
const withClients = clientsMissing && !ci ? it.skip : it;

suite('BIND9 fixture (named, TSIG, RFC 2136)', () => {
  let bind: Bind9;
  let pebble: Pebble;
  let dir: string;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and the peers cannot run: ${missing}`);
    if (clientsMissing) throw new Error(`CI=true and the ACME clients cannot run: ${clientsMissing}`);
    bind = await startBind9({ records: ['www 60 IN A 127.0.0.1'] });
    pebble = await startPebble({ httpPort: await freePort(), eab: true, dnsServer: bind.address });
    dir = mkdtempSync(join(tmpdir(), 'certctl-bind9-clients-'));
    writeFileSync(join(dir, 'pebble-https.pem'), pebble.tlsCertPem);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([pebble?.stop(), bind?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const resolver = () => {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([bind.address]);
    return r;
  };

  it('answers over UDP and TCP, and changes records by signed update', async () => {
    expect(await resolver().resolve4('www.example.test')).toEqual(['127.0.0.1']);
    await bind.addRecord('_acme-challenge.www', 'TXT', '"a value"');
    expect(await resolver().resolveTxt('_acme-challenge.www.example.test')).toEqual([['a value']]);
    // About 2 KB of TXT: more than fits a UDP answer (512 bytes, or 1232 with EDNS), so it is asked again over TCP.
    const long = Array.from({ length: 30 }, (_, i) => `"${String(i).padStart(2, '0')}${'x'.repeat(60)}"`);
    for (const value of long) await bind.addRecord('big', 'TXT', value);
    expect((await resolver().resolveTxt('big.example.test')).length).toBe(30);
    await bind.removeRecords('_acme-challenge.www', 'TXT');
    await expect(resolver().resolveTxt('_acme-challenge.www.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('refuses an update signed with another key', async () => {
    const wrong = { ...bind.tsig, secret: Buffer.alloc(32, 7).toString('base64') };
    await expect(sendDnsUpdate({ host: bind.host, port: bind.port, zone: bind.zone, tsig: wrong, records: [{ op: 'add', name: `evil.${bind.zone}`, type: 'A', value: '127.0.0.2' }] }))
      .rejects.toThrow(/NOTAUTH|REFUSED/);
    await expect(resolver().resolve4(`evil.${bind.zone}`)).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  const certificateNames = (pem: string) => new X509Certificate(pem).subjectAltName?.split(', ').sort();

  withClients('lego\'s rfc2136 provider writes the dns-01 TXT records Pebble validates (a name and its wildcard)', async () => {
    const path = join(dir, 'lego');
    await run('lego', [
      '--server', pebble.directoryUrl, '--email', 'ops@example.test', '--accept-tos', '--eab', '--kid', pebble.eab!.kid, '--hmac', pebble.eab!.hmacKey,
      '--dns', 'rfc2136', '--dns.resolvers', bind.address, '--dns.disable-cp', '--path', path, '-d', 'lego.example.test', '-d', '*.lego.example.test', 'run',
    ], {
      env: {
        PATH: process.env.PATH, LEGO_CA_CERTIFICATES: join(dir, 'pebble-https.pem'),
        RFC2136_NAMESERVER: bind.address, RFC2136_TSIG_KEY: bind.tsig.name, RFC2136_TSIG_SECRET: bind.tsig.secret, RFC2136_TSIG_ALGORITHM: 'hmac-sha256.',
        RFC2136_POLLING_INTERVAL: '1', RFC2136_PROPAGATION_TIMEOUT: '30', RFC2136_SEQUENCE_INTERVAL: '1',
      },
      timeout: 90_000,
    });
    const pem = readFileSync(join(path, 'certificates', 'lego.example.test.crt'), 'utf8');
    expect(certificateNames(pem)).toEqual(['DNS:*.lego.example.test', 'DNS:lego.example.test']);
    // lego cleaned up after itself through the same key.
    await expect(resolver().resolveTxt('_acme-challenge.lego.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  }, 100_000);

  withClients('certbot-dns-rfc2136 writes the dns-01 TXT records Pebble validates', async () => {
    const credentials = join(dir, 'rfc2136.ini');
    writeFileSync(credentials, [
      `dns_rfc2136_server = ${bind.host}`, `dns_rfc2136_port = ${bind.port}`, `dns_rfc2136_name = ${bind.tsig.name}`,
      `dns_rfc2136_secret = ${bind.tsig.secret}`, 'dns_rfc2136_algorithm = HMAC-SHA256', '',
    ].join('\n'), { mode: 0o600 });
    const config = join(dir, 'certbot');
    await run('certbot', [
      'certonly', '--non-interactive', '--agree-tos', '-m', 'ops@example.test', '--server', pebble.directoryUrl,
      '--eab-kid', pebble.eab!.kid, '--eab-hmac-key', pebble.eab!.hmacKey,
      '--authenticator', 'dns-rfc2136', '--dns-rfc2136-credentials', credentials, '--dns-rfc2136-propagation-seconds', '1',
      '--config-dir', config, '--work-dir', join(dir, 'certbot-work'), '--logs-dir', join(dir, 'certbot-logs'),
      '-d', 'certbot.example.test', '-d', '*.certbot.example.test',
    ], { env: { PATH: process.env.PATH, REQUESTS_CA_BUNDLE: join(dir, 'pebble-https.pem'), HOME: dir }, timeout: 90_000 });
    const pem = readFileSync(join(config, 'live', 'certbot.example.test', 'cert.pem'), 'utf8');
    expect(certificateNames(pem)).toEqual(['DNS:*.certbot.example.test', 'DNS:certbot.example.test']);
  }, 100_000);
});
