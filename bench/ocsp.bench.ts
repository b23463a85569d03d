import 'reflect-metadata';
/**
 * bench:ocsp — the OCSP responder (apps/responder, built, logging at info as shipped) at 100,000 issued
 * certificates, 16 connections, against peers measured in the same run, interleaved (A B A B …, order rotated
 * each round, BENCH_ROUNDS ≥ 3, default 3):
 *  - OpenSSL's own responder (`openssl ocsp -index … -port …`) answering the same requests for the same serials;
 *  - a bare node:http server returning a fixed response of the same size (the limit of the machine and client).
 * Cases:
 *  - cached GET, keep-alive (RFC 5019, pre-signed answers from memory and Redis): ours and bare node:http;
 *  - cached GET, one TCP connection per request (`Connection: close`, what TLS clients do): ours, OpenSSL, bare;
 *  - POST with a fresh nonce (signed per request), one connection per request: ours and OpenSSL;
 *  - the CRL of 100,000 revoked serials built by the responder (first GET after the revocations).
 * The load comes from a separate process (bench/lib/load-worker.ts); rates are by its clock, first request to last
 * answer, with its own CPU and event-loop delay beside them. A sample of every run's answers (ours and OpenSSL's)
 * is checked with `openssl ocsp -respin … -issuer ca.pem -CAfile ca.pem -serial …`: signature, serial and status.
 * Environment: CERTCTL_BENCH_DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
 * CERTCTL_BENCH_REDIS_URL, BENCH_OCSP_SECONDS (per run, default 10), BENCH_OCSP_CONNECTIONS (16), BENCH_ROUNDS (3),
 * BENCH_QUICK=1 (10,000 certificates, 500 hot serials, 2 s runs: proves the bench works, figures are not results).
 * Writes bench/results/ocsp.json (every round). Run it under `flock /tmp/certctl-bench.lock`.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
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
import { round } from './lib/http-load';
import { resultsFile } from './lib/results-file';
import { LoadGenerator, LoadRunResult, LoadSpec, withoutSamples } from './lib/load-generator';
import { ocspRequest } from './lib/ocsp-request';
import { verifyOcspAnswers } from './lib/ocsp-verify';
import { formatRatio, formatSpread, interleave, loadAverage, quickMode, ratioOf, RoundRecord, roundsFromEnv, spreadOf } from './lib/rounds';

const RESULTS_FILE = resultsFile('ocsp');
const ISSUER = 'iss-bench-internal';
const SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };
const quick = quickMode();
const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  quick,
  certificates: quick ? 10_000 : 100_000,
  seconds: Number(process.env.BENCH_OCSP_SECONDS ?? (quick ? 2 : 10)),
  warmupSeconds: quick ? 0.5 : 2,
  connections: Number(process.env.BENCH_OCSP_CONNECTIONS ?? 16),
  rounds: roundsFromEnv(),
  /** Distinct serials asked for in the cached case (each answer pre-signed once, then served from Redis). */
  hotSerials: quick ? 500 : 2000,
  /** Answers kept per run and checked with `openssl ocsp -respin`. */
  samplesPerRun: quick ? 5 : 10,
};
const execFileAsync = promisify(execFile);

interface OcspRun extends Omit<LoadRunResult, 'samples'> {
  samples_checked: number;
  /** Sampled answers that `openssl ocsp -respin` verified (signature, serial, status good). */
  samples_verified: number;
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
  let generator: LoadGenerator | undefined;
  const redis = new Redis(settings.redisUrl);
  try {
    process.stdout.write(`preparing ${settings.certificates} issued certificates${settings.quick ? ' (BENCH_QUICK=1: figures are not results)' : ''}…\n`);
    const dataset = await prepareDataset(settings.adminUrl, 'certctl_bench_ocsp', false, settings.certificates);
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

    const hotSerials = versions.slice(0, settings.hotSerials).map((v) => v.serial_number);
    const hot = hotSerials.map((serial) => certIdFor(identity, serial).der);
    const getPaths = hot.map((id) => `/.well-known/pki/ocsp/${ISSUER}/${encodeURIComponent(ocspRequest(id, false).toString('base64'))}`);
    const opensslGetPaths = hot.map((id) => `/${encodeURIComponent(ocspRequest(id, false).toString('base64'))}`);

    // Warm: every hot serial's answer signed once.
    for (const path of getPaths) {
      await new Promise<void>((done, fail) => request({ host: '127.0.0.1', port: responderPort, path }, (res) => { res.resume(); res.on('end', done); }).on('error', fail).end());
    }
    const sample = await new Promise<Buffer>((done) => request({ host: '127.0.0.1', port: responderPort, path: getPaths[0] }, (res) => {
      const c: Buffer[] = []; res.on('data', (x: Buffer) => c.push(x)); res.on('end', () => done(Buffer.concat(c)));
    }).end());
    if (ocspResponseStatus(sample) !== 0) throw new Error('the responder did not answer the first hot serial successfully');
    // The bare limit: node:http in its own process, answering the first hot serial's answer to every request.
    const barePort = await freePort();
    children.push(spawn(process.execPath, ['-e', `require('http').createServer((q,s)=>{s.writeHead(200,{'Content-Type':'application/ocsp-response'});s.end(Buffer.from('${sample.toString('base64')}','base64'))}).listen(${barePort},'127.0.0.1')`], { stdio: 'ignore' }));
    await waitForPort(barePort);

    generator = LoadGenerator.start();
    const load = generator;
    const ports = { certctl: responderPort, openssl: opensslPort, bare_node_http: barePort } as const;
    type Who = keyof typeof ports;
    const gets: Record<Who, LoadSpec[]> = {
      certctl: getPaths.map((path) => ({ method: 'GET', path })),
      openssl: opensslGetPaths.map((path) => ({ method: 'GET', path })),
      bare_node_http: getPaths.map((path) => ({ method: 'GET', path })),
    };
    const posts: Partial<Record<Who, LoadSpec[]>> = {
      certctl: hot.map((id) => ({ method: 'POST', path: `/.well-known/pki/ocsp/${ISSUER}`, headers: { 'content-type': 'application/ocsp-request' }, ocspNonceCertId: id.toString('base64') })),
      openssl: hot.map((id) => ({ method: 'POST', path: '/', headers: { 'content-type': 'application/ocsp-request' }, ocspNonceCertId: id.toString('base64') })),
    };
    const problems: string[] = [];
    /** One measured run of one contender: load from the separate generator, then its sampled answers checked by OpenSSL. */
    const measure = async (caseName: string, who: Who, requests: LoadSpec[], keepAlive: boolean, seconds: number): Promise<OcspRun> => {
      const result = await load.run({
        host: '127.0.0.1', port: ports[who], headers: {}, requests, connections: settings.connections, durationMs: seconds * 1000, keepAlive,
        sampleEvery: 97, maxSamples: settings.samplesPerRun,
      });
      // The bare server answers the first hot serial's answer to every request.
      const check = await verifyOcspAnswers(work, 'ca.pem', result.samples, (index) => (who === 'bare_node_http' ? hotSerials[0]! : hotSerials[index]!));
      if (result.first_error) problems.push(`${caseName} ${who}: ${result.errors} errors, ${result.non2xx} non-2xx; first: ${result.first_error}`);
      if (check.problem) problems.push(`${caseName} ${who}: answer not verified by openssl: ${check.problem}`);
      if (result.samples.length === 0) problems.push(`${caseName} ${who}: no answer sampled`);
      return { ...withoutSamples(result), samples_verified: check.verified };
    };
    const cases: Array<{ name: string; keepAlive: boolean; who: Who[]; requests: (who: Who) => LoadSpec[]; ratios: Array<[Who, Who]> }> = [
      { name: 'cached_get_keep_alive', keepAlive: true, who: ['certctl', 'bare_node_http'], requests: (w) => gets[w], ratios: [['certctl', 'bare_node_http']] },
      { name: 'cached_get_per_connection', keepAlive: false, who: ['certctl', 'openssl', 'bare_node_http'], requests: (w) => gets[w],
        ratios: [['certctl', 'openssl'], ['certctl', 'bare_node_http']] },
      { name: 'post_fresh_nonce_per_connection', keepAlive: false, who: ['certctl', 'openssl'], requests: (w) => posts[w]!, ratios: [['certctl', 'openssl']] },
    ];
    const caseResults: Record<string, { rounds: Array<RoundRecord<OcspRun>>; req_per_s: ReturnType<typeof spreadOf>; ratios: Array<ReturnType<typeof ratioOf>> }> = {};
    for (const c of cases) {
      process.stdout.write(`${c.name}: warm-up, then ${settings.rounds} interleaved rounds of ${settings.seconds} s × ${settings.connections} connections\n`);
      for (const who of c.who) await measure(`${c.name} warm-up`, who, c.requests(who), c.keepAlive, settings.warmupSeconds);
      const rounds = await interleave(c.who.map((who) => ({ name: who, run: () => measure(c.name, who, c.requests(who), c.keepAlive, settings.seconds) })), settings.rounds,
        { progress: (m) => process.stdout.write(`  ${m}\n`) });
      const rates = spreadOf(rounds, (r) => r.req_per_s);
      const ratios = c.ratios.map(([of, to]) => ratioOf(rounds, (r) => r.req_per_s, of, to));
      caseResults[c.name] = { rounds, req_per_s: rates, ratios };
      for (const [who, s] of Object.entries(rates)) {
        const bound = rounds.filter((r) => r.results[who]?.generator_bound).length;
        process.stdout.write(`  ${who.padEnd(15)} ${formatSpread(s)} req/s${bound ? `  (generator-bound in ${bound} of ${rounds.length} rounds: a lower bound)` : ''}\n`);
      }
      for (const r of ratios) process.stdout.write(`  ${formatRatio(r)}\n`);
    }

    process.stdout.write(`CRL of ${versions.length} revoked serials…\n`);
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

    const checked = Object.values(caseResults).flatMap((c) => c.rounds.flatMap((r) => Object.values(r.results)));
    const results = {
      measured_at: new Date().toISOString(),
      machine: { cores: cpus().length, node: process.version, openssl: (await execFileAsync('openssl', ['version'])).stdout.trim(), loadavg_at_end: loadAverage() },
      settings: {
        ...settings, certificates: versions.length, dataset: dataset.database, responder_log_level: 'info',
        client: 'separate load-generator process (bench/lib/load-worker.ts), closed loop, rate = 2xx answers / (first request sent → last answer read) by its clock',
      },
      answers_checked: {
        method: 'openssl ocsp -respin <answer> -issuer ca.pem -CAfile ca.pem -serial <asked> -no_nonce: "Response verify OK" and "<serial>: good"; POST answers also -reqin <request sent>: nonce echoed',
        sampled: checked.reduce((a, r) => a + r.samples_checked, 0), verified: checked.reduce((a, r) => a + r.samples_verified, 0),
      },
      problems,
      ...caseResults,
      targets: { cached_get_per_connection_vs_openssl: '>= 1.0', cached_get_keep_alive_vs_bare: '>= 0.6', post_fresh_nonce_vs_openssl: '>= 3' },
      crl: { revoked: versions.length, first_get_ms: round(crlMs, 1), generation_duration_ms: crlRow?.generation_duration_ms, revoked_count: crlRow?.revoked_count, bytes: crlBytes, target_ms: '< 3000' },
    };
    mkdirSync(resolve(RESULTS_FILE, '..'), { recursive: true });
    writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`answers verified by openssl: ${results.answers_checked.verified} of ${results.answers_checked.sampled}; CRL first GET ${round(crlMs, 1)} ms\nwritten: ${RESULTS_FILE}\n`);
    if (problems.length) throw new Error(`checks failed:\n  ${problems.join('\n  ')}`);
  } finally {
    generator?.stop();
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
