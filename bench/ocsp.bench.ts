import 'reflect-metadata';
/**
 * bench:ocsp — the OCSP responder (apps/responder, built) at 100,000 issued certificates, 16 connections, with
 * two peers measured in the same run on the same machine:
 *  - OpenSSL's own responder (`openssl ocsp -index … -port …`) answering the same requests for the same serials;
 *  - a bare node:http server returning a fixed response of the same size (the limit of the machine and client).
 * Cases: cached GET (RFC 5019, pre-signed answers from memory and Redis), POST with a fresh nonce (signed per request), and
 * the CRL of 100,000 revoked serials built by the responder (first GET after the revocations).
 * Environment: CERTCTL_BENCH_DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
 * CERTCTL_BENCH_REDIS_URL, BENCH_OCSP_SECONDS (per case, default 10), BENCH_OCSP_CONNECTIONS (16).
 * Writes bench/results/ocsp.json. Run it under `flock /tmp/certctl-bench.lock`.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import {
  certIdFor, createCaCertificate, encryptSecret, exportPrivateKeyPem, generateKeyObjects, generateKeyPair, issueLeafCertificate,
  issuerIdentityOf, certificatePemToDer, KeySpec, ocspResponseStatus, privateKeyPemOf, x509,
} from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { AppProcess } from './lib/app-process';
import { prepareDataset, withDatabase } from './lib/bench-dataset';
import { percentile, round } from './lib/http-load';

const RESULTS_FILE = resolve(__dirname, '..', '..', 'bench', 'results', 'ocsp.json');
const ISSUER = 'iss-bench-internal';
const SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };
const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  seconds: Number(process.env.BENCH_OCSP_SECONDS ?? 10),
  connections: Number(process.env.BENCH_OCSP_CONNECTIONS ?? 16),
  /** Distinct serials asked for in the cached case (each answer pre-signed once, then served from Redis). */
  hotSerials: 2000,
};

interface Case {
  requests: number;
  errors: number;
  req_per_s: number;
  latency_ms: { p50: number; p99: number; max: number };
}

type MakeRequest = () => { method: 'GET' | 'POST'; path: string; body?: Buffer };

/** Closed loop: `connections` workers each send one request at a time; keep-alive unless the peer closes. */
async function load(port: number, make: MakeRequest, keepAlive: boolean, check?: (body: Buffer) => boolean): Promise<Case & { first_error?: string }> {
  const agent = new Agent({ keepAlive, maxSockets: settings.connections });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const deadline = Date.now() + settings.seconds * 1000;
  const started = process.hrtime.bigint();
  const one = (r: ReturnType<MakeRequest>) => new Promise<Buffer>((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path: r.path, method: r.method, agent,
      headers: r.body ? { 'Content-Type': 'application/ocsp-request', 'Content-Length': String(r.body.length) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? done(Buffer.concat(chunks)) : fail(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', fail);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(r.body);
  });
  await Promise.all(Array.from({ length: settings.connections }, async () => {
    while (Date.now() < deadline) {
      const r = make();
      const t = process.hrtime.bigint();
      try {
        const body = await one(r);
        if (check && !check(body)) throw new Error('unexpected OCSP answer');
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  }));
  agent.destroy();
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length, errors, req_per_s: round(latencies.length / elapsed, 1),
    latency_ms: { p50: round(percentile(sorted, 50), 2), p99: round(percentile(sorted, 99), 2), max: round(sorted[sorted.length - 1] ?? 0, 2) },
    ...(firstError ? { first_error: firstError } : {}),
  };
}

/** An OCSPRequest for one CertID, with a fresh 16-byte nonce when asked. */
function ocspRequest(certIdDer: Buffer, nonce: boolean): Buffer {
  const der = (tag: number, content: Buffer) => {
    const n = content.length;
    const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, content]);
  };
  const list = der(0x30, der(0x30, certIdDer));
  const parts = [list];
  if (nonce) {
    const ext = der(0x30, Buffer.concat([Buffer.from('06092b0601050507300102', 'hex'), der(0x04, der(0x04, randomBytes(16)))]));
    parts.push(der(0xa2, der(0x30, ext)));
  }
  return der(0x30, der(0x30, Buffer.concat(parts)));
}

function startProcess(command: string, args: string[], cwd: string): ChildProcess {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`${command} exited early (code ${code}, signal ${signal}): ${stderr.trim()}`);
  });
  return child;
}

let stopping = false;

/**
 * Waits until the kernel lists a listening socket on the port (/proc/net/tcp*): OpenSSL's responder serves one
 * connection at a time, and an empty probe connection would hold it, so it is not probed by connecting.
 */
async function waitForListener(port: number, child: ChildProcess): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the responder exited with code ${child.exitCode}`);
    const tables = ['/proc/net/tcp', '/proc/net/tcp6'].map((f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } }).join('');
    if (tables.split('\n').some((line) => { const cols = line.trim().split(/\s+/); return cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A'; })) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Waits until something accepts TCP connections on the port (OpenSSL's responder answers no plain GET /). */
async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); done(true); });
      socket.on('error', () => done(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-ocsp-'));
  const encryptionKey = `bench-ocsp-${randomBytes(16).toString('hex')}`;
  const prefix = `certctl-bench-ocsp-${randomBytes(4).toString('hex')}`;
  const children: ChildProcess[] = [];
  let responder: AppProcess | undefined;
  const redis = new Redis(settings.redisUrl);
  try {
    process.stdout.write('preparing 100,000 issued certificates…\n');
    const dataset = await prepareDataset(settings.adminUrl, 'certctl_bench_ocsp', false);
    const url = withDatabase(settings.adminUrl, 'certctl_bench_ocsp');
    const db = new Client({ connectionString: url });
    await db.connect();
    // Every certificate under the Local CA issuer, serials in the form OCSP looks up (lowercase hex, no 00 octet).
    await db.query(`UPDATE managed_certificates SET issuer_id = $1`, [ISSUER]);
    await db.query(`UPDATE certificate_versions SET serial_number = '7' || lower(substr(serial_number, 2))`);
    const { rows: versions } = await db.query<{ serial_number: string; not_after: Date }>('SELECT serial_number, not_after FROM certificate_versions ORDER BY id');

    // The CA (stored as the Local CA stores it) and, for OpenSSL, a responder certificate of the same kind as ours.
    const caKeys = await generateKeyPair(SPEC);
    const caPem = await createCaCertificate({ keys: caKeys, keySpec: SPEC, commonName: 'Bench OCSP CA', validityDays: 3650 });
    await db.query(`INSERT INTO issuer_authorities (issuer_id, certificate_pem, chain_pem, encrypted_private_key) VALUES ($1, $2, '', $3)`,
      [ISSUER, caPem, encryptSecret(await exportPrivateKeyPem(caKeys.privateKey), encryptionKey)]);
    const ca = { certificate: new x509.X509Certificate(caPem), privateKey: caKeys.privateKey, keySpec: SPEC };
    const identity = issuerIdentityOf(certificatePemToDer(caPem));
    const opensslResponderKeys = await generateKeyObjects(SPEC);
    const opensslResponder = issueLeafCertificate(ca, {
      publicKey: opensslResponderKeys.publicKey, commonName: 'openssl-responder', sans: [], notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 30 * 86_400_000), ekus: ['OCSPSigning'], ocspNoCheck: true,
    });
    writeFileSync(join(work, 'ca.pem'), caPem);
    writeFileSync(join(work, 'rsigner.pem'), opensslResponder.pem);
    writeFileSync(join(work, 'rkey.pem'), privateKeyPemOf(opensslResponderKeys.privateKey));
    const yymmdd = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    // Every row names the same subject: without unique_subject = no OpenSSL refuses the index ("Error creating name index").
    writeFileSync(join(work, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(join(work, 'index.txt'), versions.map((v) => `V\t${yymmdd(new Date(v.not_after))}\t\t${v.serial_number.toUpperCase()}\tunknown\t/CN=bench\n`).join(''));

    // Our responder (built app), OpenSSL's, and the bare node:http limit.
    responder = await AppProcess.start('responder', {
      CERTCTL_DATABASE_URL: url, CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: prefix, CERTCTL_CONFIG_ENCRYPTION_KEY: encryptionKey,
      // As deployed: the per-client limit on (at a ceiling the bench never reaches, so its Redis pipeline is part of
      // every request) and logging at info.
      CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: '100000000', CERTCTL_LOG_LEVEL: 'info', CERTCTL_DEMO_SEED: 'false',
    });
    await responder.waitReady();
    const responderPort = Number(new URL(responder.baseUrl).port);
    const opensslPort = await freePort();
    const openssl = startProcess('openssl', ['ocsp', '-index', 'index.txt', '-port', String(opensslPort), '-rsigner', 'rsigner.pem', '-rkey', 'rkey.pem', '-CA', 'ca.pem', '-ignore_err'], work);
    children.push(openssl);
    // OpenSSL's responder cannot bind to one address (-port only): it listens on all, for the few seconds of the run.
    await waitForListener(opensslPort, openssl);

    const hot = versions.slice(0, settings.hotSerials).map((v) => certIdFor(identity, v.serial_number).der);
    const getPaths = hot.map((id) => `/.well-known/pki/ocsp/${ISSUER}/${encodeURIComponent(ocspRequest(id, false).toString('base64'))}`);
    const opensslGetPaths = hot.map((id) => `/${encodeURIComponent(ocspRequest(id, false).toString('base64'))}`);
    const good = (body: Buffer) => ocspResponseStatus(body) === 0;

    // Warm: every hot serial's answer signed once.
    for (const path of getPaths) {
      await new Promise<void>((done, fail) => request({ host: '127.0.0.1', port: responderPort, path }, (res) => { res.resume(); res.on('end', done); }).on('error', fail).end());
    }
    const sample = await new Promise<Buffer>((done) => request({ host: '127.0.0.1', port: responderPort, path: getPaths[0] }, (res) => {
      const c: Buffer[] = []; res.on('data', (x: Buffer) => c.push(x)); res.on('end', () => done(Buffer.concat(c)));
    }).end());
    // The bare limit: node:http in its own process (so it does not share this load generator's core).
    const barePort = await freePort();
    children.push(spawn(process.execPath, ['-e', `require('http').createServer((q,s)=>{s.writeHead(200,{'Content-Type':'application/ocsp-response'});s.end(Buffer.from('${sample.toString('base64')}','base64'))}).listen(${barePort},'127.0.0.1')`], { stdio: 'ignore' }));
    await waitForPort(barePort);

    let i = 0;
    const pick = <T>(list: T[]) => list[i++ % list.length]!;
    process.stdout.write('cached GET…\n');
    const cachedGet = await load(responderPort, () => ({ method: 'GET', path: pick(getPaths) }), true, good);
    const opensslGet = await load(opensslPort, () => ({ method: 'GET', path: pick(opensslGetPaths) }), false, good);
    const bareGet = await load(barePort, () => ({ method: 'GET', path: pick(getPaths) }), true);
    process.stdout.write('POST with a fresh nonce…\n');
    const noncePost = await load(responderPort, () => ({ method: 'POST', path: `/.well-known/pki/ocsp/${ISSUER}`, body: ocspRequest(pick(hot), true) }), true, good);
    const opensslPost = await load(opensslPort, () => ({ method: 'POST', path: '/', body: ocspRequest(pick(hot), true) }), false, good);

    process.stdout.write('CRL of 100,000 revoked serials…\n');
    await db.query(`INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_number, reason, revoked_at)
                    SELECT 'rev-' || v.id, v.certificate_id, $1, v.serial_number, 'superseded', now() FROM certificate_versions v`, [ISSUER]);
    await db.query('DELETE FROM crl_cache WHERE issuer_id = $1', [ISSUER]);
    const crlStarted = process.hrtime.bigint();
    const crlBytes = await new Promise<number>((done, fail) => request({ host: '127.0.0.1', port: responderPort, path: `/.well-known/pki/crl/${ISSUER}` }, (res) => {
      let n = 0; res.on('data', (c: Buffer) => (n += c.length)); res.on('end', () => (res.statusCode === 200 ? done(n) : fail(new Error(`CRL HTTP ${res.statusCode}`))));
    }).on('error', fail).end());
    const crlMs = Number(process.hrtime.bigint() - crlStarted) / 1e6;
    const { rows: [crlRow] } = await db.query('SELECT generation_duration_ms, revoked_count FROM crl_cache WHERE issuer_id = $1', [ISSUER]);
    await db.end();

    const results = {
      measured_at: new Date().toISOString(),
      machine: { cores: (await import('node:os')).cpus().length, node: process.version },
      settings: { ...settings, certificates: versions.length, dataset: dataset.database, client: 'in-process closed loop; keep-alive except OpenSSL (it closes each connection)' },
      cached_get: { certctl: cachedGet, openssl: opensslGet, bare_node_http: bareGet,
        ratio_vs_openssl: round(cachedGet.req_per_s / opensslGet.req_per_s, 2), ratio_vs_bare: round(cachedGet.req_per_s / bareGet.req_per_s, 2),
        targets: { vs_openssl: '>= 10', vs_bare: '>= 0.5', p99_ms: '< 10' } },
      post_fresh_nonce: { certctl: noncePost, openssl: opensslPost, ratio_vs_openssl: round(noncePost.req_per_s / opensslPost.req_per_s, 2), targets: { vs_openssl: '>= 3' } },
      crl_100k: { first_get_ms: round(crlMs, 1), generation_duration_ms: crlRow?.generation_duration_ms, revoked_count: crlRow?.revoked_count, bytes: crlBytes, target_ms: '< 3000' },
    };
    mkdirSync(resolve(RESULTS_FILE, '..'), { recursive: true });
    writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await responder?.stop();
    stopping = true;
    for (const c of children) c.kill('SIGTERM');
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ocsp failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
