import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataSourceOptions } from '@certctl/db';
import { createCsr, describeCertificate, generateKeyPair, KeySpec, parseCsr, verifyChain } from '@certctl/pki';
import { createTestEnvironment, freePort, Pebble, pebbleMissing, startPebble, TestEnvironment } from '@certctl/testing';
import { IssueRequest, IssuerError } from '../issuer-connector';
import { AcmeAccountStore } from './acme-account-store';
import { AcmeChallengeStore } from './acme-challenge-store';
import { AcmeConfig, AcmeConnector, AcmeDeps } from './acme.connector';
import { AcmeResponderPool } from './acme-http-responder';

/**
 * The ACME connector against Pebble from Debian with real validation: Pebble's validator fetches http-01
 * answers from our responder (which reads Redis) and dns-01 TXT records from pebble-challtestsrv, set by
 * hook scripts. Pebble requires external account binding, so every successful registration here used EAB.
 */
const missing = pebbleMissing();
if (missing && process.env.CI !== 'true') console.warn(`[acme.int-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

const ENCRYPTION_KEY = 'acme-int-spec-encryption-key-0123456789';

suite('ACME connector against Pebble (real validation)', () => {
  let env: TestEnvironment;
  let ds: DataSource;
  let redis: Redis;
  let pebble: Pebble;
  let pool: AcmeResponderPool;
  let challenges: AcmeChallengeStore;
  let root: string;
  let scripts: string;

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and Pebble cannot run: ${missing}`);
    env = await createTestEnvironment();
    ds = await new DataSource(dataSourceOptions({ url: env.databaseUrl })).initialize();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: 2 });
    challenges = new AcmeChallengeStore(redis, env.queuePrefix, 300);
    const httpPort = await freePort();
    pool = new AcmeResponderPool(challenges, '127.0.0.1', (port, err) => {
      throw new Error(`responder could not listen on ${port}: ${err.message}`);
    });
    pebble = await startPebble({ httpPort, eab: true });
    root = await pebble.rootPem();
    scripts = mkdtempSync(join(tmpdir(), 'certctl-dns-hooks-'));
  });

  afterAll(async () => {
    await pool?.close();
    await pebble?.stop();
    redis?.disconnect();
    await ds?.destroy();
    await env?.destroy();
    if (scripts) rmSync(scripts, { recursive: true, force: true });
  });

  async function newIssuer(config: Partial<AcmeConfig> = {}, deps: Partial<AcmeDeps> = {}) {
    const id = `iss-acme-${randomBytes(4).toString('hex')}`;
    await ds.query(`INSERT INTO issuers (id, name, type, config) VALUES ($1, $1, 'ACME', '{}')`, [id]);
    const full: AcmeConfig = {
      directory_url: pebble.directoryUrl,
      email: 'ops@certctl.test',
      eab_kid: pebble.eab!.kid,
      eab_hmac_key: pebble.eab!.hmacKey,
      http_port: pebble.httpPort,
      ca_bundle_pem: pebble.tlsCertPem,
      ...config,
    };
    const make = () => new AcmeConnector(id, full, {
      accounts: new AcmeAccountStore(ds),
      challenges,
      encryptionKey: ENCRYPTION_KEY,
      defaultHttpPort: 80,
      ensureResponder: (port) => pool.ensure(port),
      timing: { validationTimeoutMs: 30_000, requestTimeoutMs: 5_000 },
      ...deps,
    });
    return { id, connector: make(), make };
  }

  async function requestFor(names: string[], spec: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' }): Promise<IssueRequest> {
    const keys = await generateKeyPair(spec);
    const csr = await parseCsr(await createCsr({ keys, keySpec: spec, commonName: names[0]!, sans: names }));
    return { csr, commonName: names[0]!, sans: names, profile: null, jobId: `job-${randomBytes(4).toString('hex')}` };
  }

  const unique = (label: string) => `${label}-${randomBytes(4).toString('hex')}.certctl.test`;

  async function expectIssuerError(p: Promise<unknown>, kind: IssuerError['kind'], message: RegExp): Promise<IssuerError> {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err, 'expected an IssuerError').toBeInstanceOf(IssuerError);
    expect((err as IssuerError).message).toMatch(message);
    expect((err as IssuerError).kind, (err as IssuerError).message).toBe(kind);
    return err as IssuerError;
  }

  it('issues over http-01 (EAB account, Redis-backed responder): the chain verifies to Pebble\'s root and carries the CSR\'s names', async () => {
    const { id, connector } = await newIssuer();
    const names = [unique('web'), unique('www')];
    const request = await requestFor(names);

    const issued = await connector.issue(request);

    const leaf = describeCertificate(issued.leafPem);
    expect(leaf.sans.sort()).toEqual([...names].sort());
    expect(issued.chainPems.length).toBeGreaterThanOrEqual(1);
    const chain = await verifyChain(issued.leafPem, issued.chainPems, [root]);
    expect(describeCertificate(chain[chain.length - 1]!).subject).toMatch(/Pebble Root CA/);
    // The account is stored once, its key encrypted (no PEM in the column), its URL from Pebble.
    const rows = await ds.query('SELECT account_url, encrypted_account_key FROM acme_issuer_accounts WHERE issuer_id = $1', [id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].account_url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    expect(Buffer.from(rows[0].encrypted_account_key).toString('latin1')).not.toContain('PRIVATE KEY');
    // The key authorizations were removed from Redis once validated.
    expect(await redis.keys(`${env.queuePrefix}:acme:http-01:*`)).toEqual([]);
  });

  it('reuses the stored account from another process (a new connector) and reports it in test()', async () => {
    const { id, connector, make } = await newIssuer();
    await connector.issue(await requestFor([unique('first')]));
    const [before] = await ds.query('SELECT account_url, encrypted_account_key FROM acme_issuer_accounts WHERE issuer_id = $1', [id]);

    const restarted = make();
    const issued = await restarted.issue(await requestFor([unique('second')], { algorithm: 'RSA', bits: 2048 }));
    expect(describeCertificate(issued.leafPem).keyAlgorithm).toBe('RSA');
    const after = await ds.query('SELECT account_url, encrypted_account_key FROM acme_issuer_accounts WHERE issuer_id = $1', [id]);
    expect(after).toEqual([before]);
    const report = await restarted.test();
    expect(report).toContain(`account ${before.account_url} valid`);
    expect(report).toContain('ARI not offered');
  });

  it('registers the stored key again when the CA no longer knows the stored account URL, and the order goes through', async () => {
    const { id, connector, make } = await newIssuer();
    await connector.test();
    const [{ account_url: real }] = await ds.query('SELECT account_url FROM acme_issuer_accounts WHERE issuer_id = $1', [id]);
    await ds.query(`UPDATE acme_issuer_accounts SET account_url = $2 WHERE issuer_id = $1`, [id, real.replace(/[^/]+$/, 'forgotten0')]);

    const issued = await make().issue(await requestFor([unique('forgotten')]));

    await verifyChain(issued.leafPem, issued.chainPems, [root]);
    const [{ account_url: after }] = await ds.query('SELECT account_url FROM acme_issuer_accounts WHERE issuer_id = $1', [id]);
    expect(after).toBe(real); // same key, so the CA handed back the same account
  });

  it('issues over dns-01 through hook scripts (run without a shell) that set and clear TXT records in challtestsrv', async () => {
    const log = join(scripts, 'hooks.log');
    const hook = (name: string, path: string) => {
      const file = join(scripts, name);
      writeFileSync(file, `#!${process.execPath}
const e = process.env;
require('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify({ hook: ${JSON.stringify(name)}, domain: e.CERTCTL_DNS_DOMAIN, fqdn: e.CERTCTL_DNS_FQDN, token: e.CERTCTL_DNS_TOKEN, value: e.CERTCTL_DNS_VALUE, leaked: Object.keys(e).filter((k) => !k.startsWith('CERTCTL_DNS_') && k !== 'PATH') }) + '\\n');
fetch(${JSON.stringify(`${pebble.challtestsrvUrl}${path}`)}, { method: 'POST', body: JSON.stringify({ host: e.CERTCTL_DNS_FQDN, value: e.CERTCTL_DNS_VALUE }) })
  .then((r) => { if (!r.ok) { console.error('challtestsrv said ' + r.status); process.exit(3); } });
`);
      chmodSync(file, 0o755);
      return file;
    };
    const { connector } = await newIssuer({
      challenge_type: 'dns-01',
      dns_present_script: hook('present', '/set-txt'),
      dns_cleanup_script: hook('cleanup', '/clear-txt'),
    });
    const base = unique('dns');
    const names = [base, `*.${base}`];

    const issued = await connector.issue(await requestFor(names));

    expect(describeCertificate(issued.leafPem).sans.sort()).toEqual([...names].sort());
    await verifyChain(issued.leafPem, issued.chainPems, [root]);
    const calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(calls.filter((c) => c.hook === 'present')).toHaveLength(2); // the name and its wildcard: one TXT each
    expect(calls.filter((c) => c.hook === 'cleanup')).toHaveLength(2);
    for (const call of calls) {
      expect(call).toMatchObject({ domain: base, fqdn: `_acme-challenge.${base}.` });
      expect(call.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(call.leaked).toEqual([]); // nothing of the server's environment reaches the hook
    }
  });

  it('a name the responder cannot prove fails permanently with Pebble\'s message, and the challenge is cleaned up', async () => {
    const { connector } = await newIssuer();
    const provable = unique('ok');
    const unprovable = unique('elsewhere');
    await pebble.addA(`${unprovable}.`, '127.0.0.9'); // nothing answers http-01 there

    const err = await expectIssuerError(connector.issue(await requestFor([provable, unprovable])), 'permanent', new RegExp(`could not validate ${unprovable.replace(/\./g, '\\.')} with http-01: .*127\\.0\\.0\\.9`));
    expect(err.message).toMatch(/connection/i);
    expect(await redis.keys(`${env.queuePrefix}:acme:http-01:*`)).toEqual([]);
  });

  it('a failing dns-01 present hook is transient and cleanup still runs; a missing hook is permanent', async () => {
    const marker = join(scripts, 'cleanup-ran');
    const failing = join(scripts, 'failing-present');
    writeFileSync(failing, `#!${process.execPath}\nconsole.error('dns provider said no');\nprocess.exit(7);\n`);
    chmodSync(failing, 0o755);
    const cleanup = join(scripts, 'marker-cleanup');
    writeFileSync(cleanup, `#!${process.execPath}\nrequire('node:fs').writeFileSync(${JSON.stringify(marker)}, process.env.CERTCTL_DNS_DOMAIN);\n`);
    chmodSync(cleanup, 0o755);
    const name = unique('hookfail');
    const { connector } = await newIssuer({ challenge_type: 'dns-01', dns_present_script: failing, dns_cleanup_script: cleanup });
    await expectIssuerError(connector.issue(await requestFor([name])), 'transient', /failing-present failed \(exit 7\): dns provider said no/);
    expect(readFileSync(marker, 'utf8')).toBe(name);

    const { connector: misconfigured } = await newIssuer({ challenge_type: 'dns-01', dns_present_script: join(scripts, 'does-not-exist'), dns_cleanup_script: cleanup });
    await expectIssuerError(misconfigured.issue(await requestFor([unique('nohook')])), 'permanent', /does-not-exist cannot be run: no such file/);
  });

  it('registration without the external account binding Pebble requires is refused permanently with Pebble\'s message', async () => {
    const { connector } = await newIssuer({ eab_kid: undefined, eab_hmac_key: undefined });
    await expectIssuerError(connector.issue(await requestFor([unique('noeab')])), 'permanent', /registering the account: .*externalAccountBinding.*\(externalAccountRequired\)/);
    const { connector: wrongKey } = await newIssuer({ eab_hmac_key: randomBytes(32).toString('base64url') });
    await expectIssuerError(wrongKey.test(), 'permanent', /checking the account: .*(signature|binding|verify)/i);
  });

  it('an unreachable directory is transient; an untrusted HTTPS certificate is permanent (config)', async () => {
    const closed = await freePort();
    const { connector } = await newIssuer({ directory_url: `https://127.0.0.1:${closed}/dir` });
    const started = Date.now();
    await expectIssuerError(connector.issue(await requestFor([unique('down')])), 'transient', /unreachable.*ECONNREFUSED/);
    await expectIssuerError(connector.test(), 'transient', /unreachable.*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(5_000); // no in-process retry storm: the job's backoff retries

    const { connector: untrusted } = await newIssuer({ ca_bundle_pem: undefined });
    await expectIssuerError(untrusted.test(), 'permanent', /untrusted HTTPS certificate .*ca_bundle_pem/);
  });

  it('refuses a CSR that breaks the profile before ordering, and names ACME cannot validate', async () => {
    const { connector } = await newIssuer();
    const request = await requestFor([unique('weak')], { algorithm: 'RSA', bits: 2048 });
    request.profile = { allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }], max_ttl_seconds: 0, allowed_ekus: ['serverAuth'], required_san_patterns: [], must_staple: false };
    await expectIssuerError(connector.issue(request), 'permanent', /key RSA 2048 is not allowed by the profile/);
    const email = await requestFor([unique('mail'), 'ops@certctl.test']);
    await expectIssuerError(connector.issue(email), 'permanent', /ACME cannot certify ops@certctl\.test/);
  });

  it('ARI: Pebble 2.4 offers no renewalInfo, so renewalInfo() answers null', async () => {
    const { connector } = await newIssuer();
    const issued = await connector.issue(await requestFor([unique('ari')]));
    expect(await connector.renewalInfo(issued.leafPem)).toBeNull();
  });
});
