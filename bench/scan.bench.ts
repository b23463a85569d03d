import 'reflect-metadata';
/**
 * bench:scan — TLS discovery of a fleet of loopback listeners by our scanner (apps/scanner, built, one replica) and
 * two peers over the same endpoints, interleaved:
 *  - nmap: `nmap -n -Pn -T4 -p <port> --script ssl-cert -oX <file> <cidr>` (Debian's nmap, installed here with
 *    apt-get when missing: a bench dependency, never a CI one);
 *  - loop: a plain `tls.connect` loop over every address of the range, BENCH_SCAN_LOOP_CONCURRENCY (256) at once;
 *  - nmap sweep (informative): the same nmap command without the script, i.e. the TCP sweep alone.
 * Cases: dense (1,000 live TLS endpoints in 127.10.0.0/22) and sparse (1,000 live in 127.20.0.0/16, the other
 * 64,534 addresses closed). Only 127.0.0.0/8 is ever touched. Each listener has its own leaf certificate; every
 * tool's findings are checked against the fleet's fingerprints (completeness).
 * Rounds: BENCH_SCAN_ROUNDS (3); in round r the tools run in the order rotated by r (A B C, B C A, C A B). Every
 * time is by this process's clock: spawn → exit for nmap, enqueue → the scan row seen Completed for ours.
 * BENCH_QUICK=1: 100 endpoints in a /25 and a /20, one round (proves the bench works on a busy machine).
 * Environment: CERTCTL_BENCH_DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres),
 * CERTCTL_BENCH_REDIS_URL, BENCH_SCAN_RATE_LIMIT (the scanner's connections/s, default 1,000,000: nmap -T4 has no
 * such cap), BENCH_SCAN_FLEET_PROCESSES (2), BENCH_SCAN_REPLICAS (scanner processes, 1), BENCH_SCAN_TOOLS (a subset,
 * e.g. "ours,nmap"), BENCH_SCAN_ROUNDS, BENCH_APP_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 * Writes bench/results/scan.json (or scan-quick.json). Run it under `flock /tmp/certctl-bench.lock`.
 */
import { ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, createSecureContext } from 'node:tls';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { fingerprintSha256 } from '@certctl/pki';
import { freePort } from '@certctl/testing';
import { AppProcess } from './lib/app-process';
import { freshDatabase } from './lib/bench-dataset';

const QUICK = process.env.BENCH_QUICK === '1';
const RESULTS_FILE = resolve(__dirname, '..', '..', 'bench', 'results', QUICK ? 'scan-quick.json' : 'scan.json');
const DATABASE = 'certctl_bench_scan';
const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  rounds: Number(process.env.BENCH_SCAN_ROUNDS ?? (QUICK ? 1 : 3)),
  live: QUICK ? 100 : 1000,
  rateLimit: Number(process.env.BENCH_SCAN_RATE_LIMIT ?? 1_000_000),
  fleetProcesses: Number(process.env.BENCH_SCAN_FLEET_PROCESSES ?? 2),
  /** Scanner processes sharing each scan's shards (1: one process, like nmap). */
  replicas: Number(process.env.BENCH_SCAN_REPLICAS ?? 1),
  loopConcurrency: Number(process.env.BENCH_SCAN_LOOP_CONCURRENCY ?? 256),
  /** Per probe, every tool: generous, as the listeners share the machine's two cores with everything else. */
  timeoutMs: 3000,
};
const CASES = [
  { name: 'dense', cidr: QUICK ? '127.10.0.0/25' : '127.10.0.0/22' },
  { name: 'sparse', cidr: QUICK ? '127.20.0.0/20' : '127.20.0.0/16' },
] as const;
const ALL_TOOLS = ['ours', 'nmap', 'loop', 'nmap_sweep'] as const;
type Tool = (typeof ALL_TOOLS)[number];
/** BENCH_SCAN_TOOLS=ours,nmap runs a subset (e.g. to profile ours alone); ratios need ours and the peer. */
const TOOLS = (process.env.BENCH_SCAN_TOOLS?.split(',') ?? ALL_TOOLS).filter((t): t is Tool => (ALL_TOOLS as readonly string[]).includes(t));

interface Run {
  round: number;
  tool: Tool;
  seconds: number;
  addresses_per_s: number;
  /** Endpoints whose certificate (the right one) this tool reported; for the sweep, open ports found. */
  found: number;
  wrong: number;
  load_average: number;
}

/** Every host address of an IPv4 CIDR (network and broadcast addresses left out, as the scanner does). */
function hostAddresses(cidr: string): string[] {
  const [base, bits] = cidr.split('/') as [string, string];
  if (!base.startsWith('127.')) throw new Error(`bench:scan only touches loopback space, not ${cidr}`);
  const start = base.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return Array.from({ length: size - 2 }, (_, i) => {
    const n = start + 1 + i;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  });
}

/** `count` addresses spread evenly over the range. */
function spread(addresses: string[], count: number): string[] {
  return Array.from({ length: count }, (_, k) => addresses[Math.floor((k * addresses.length) / count)]!);
}

function ensureNmap(): string {
  const version = () => spawnSync('nmap', ['--version'], { encoding: 'utf8' });
  let probe = version();
  if (probe.status !== 0) {
    console.log('nmap missing: apt-get install -y nmap (a bench dependency only)');
    const install = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nmap'], { stdio: 'inherit' });
    if (install.status !== 0) throw new Error('could not install nmap with apt-get; install Debian package nmap and run again');
    probe = version();
  }
  return probe.stdout.split('\n')[0]!.trim();
}

/** Starts the fleet over `processes` children; answers the expected fingerprint per "addr:port". */
async function startFleet(addresses: string[], port: number, processes: number): Promise<{ children: ChildProcess[]; expected: Map<string, string> }> {
  const children: ChildProcess[] = [];
  const expected = new Map<string, string>();
  const parts = Array.from({ length: processes }, (_, p) => addresses.filter((_, i) => i % processes === p));
  await Promise.all(parts.map((part) => new Promise<void>((done, fail) => {
    const child = fork(join(__dirname, 'lib', 'tls-fleet-process.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    child.once('exit', (code) => fail(new Error(`fleet process exited (${code}) before it was ready`)));
    child.once('message', (reply: { fingerprints: Record<string, string> }) => {
      for (const [endpoint, fp] of Object.entries(reply.fingerprints)) expected.set(endpoint, fp);
      done();
    });
    child.send({ addresses: part, port });
  })));
  return { children, expected };
}

function tally(found: Map<string, string>, expected: Map<string, string>): { found: number; wrong: number } {
  let right = 0;
  let wrong = 0;
  for (const [endpoint, fp] of found) (expected.get(endpoint) === fp ? right++ : wrong++);
  return { found: right, wrong };
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
/** nmap escapes newlines and even dashes as character references (&#xa; &#45;). */
const unescapeXml = (text: string) => text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (_, ref: string) =>
  ref.startsWith('#x') ? String.fromCodePoint(parseInt(ref.slice(2), 16))
    : ref.startsWith('#') ? String.fromCodePoint(Number(ref.slice(1))) : XML_ENTITIES[ref] ?? `&${ref};`);

/** nmap's XML: per host, the leaf's PEM from ssl-cert (or, without the script, just the open port). */
function parseNmapXml(xml: string, port: number, withScript: boolean): Map<string, string> {
  const found = new Map<string, string>();
  for (const host of xml.match(/<host[\s>][\s\S]*?<\/host>/g) ?? []) {
    const address = /<address addr="([^"]+)" addrtype="ipv4"/.exec(host)?.[1];
    if (!address) continue;
    if (!withScript) {
      if (new RegExp(`<port protocol="tcp" portid="${port}"><state state="open"`).test(host)) found.set(`${address}:${port}`, 'open');
      continue;
    }
    const pem = /<elem key="pem">([\s\S]*?)<\/elem>/.exec(host)?.[1];
    if (pem) found.set(`${address}:${port}`, fingerprintSha256(unescapeXml(pem)));
  }
  return found;
}

async function runNmap(cidr: string, port: number, withScript: boolean): Promise<{ seconds: number; found: Map<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-scan-'));
  const out = join(dir, 'nmap.xml');
  const args = ['-n', '-Pn', '-T4', '-p', String(port), ...(withScript ? ['--script', 'ssl-cert'] : []), '-oX', out, cidr];
  const started = process.hrtime.bigint();
  const code = await new Promise<number | null>((done) => spawn('nmap', args, { stdio: 'ignore' }).once('exit', done));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`nmap ${args.join(' ')} exited ${code}`);
  const found = parseNmapXml(readFileSync(out, 'utf8'), port, withScript);
  rmSync(dir, { recursive: true, force: true });
  return { seconds, found };
}

/** The plain loop: one tls.connect per address, `concurrency` at once, the leaf's SHA-256 of each handshake. */
async function runLoop(addresses: string[], port: number): Promise<{ seconds: number; found: Map<string, string> }> {
  const found = new Map<string, string>();
  const context = createSecureContext({ minVersion: 'TLSv1' });
  let next = 0;
  const one = (host: string) => new Promise<void>((done) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, secureContext: context, timeout: settings.timeoutMs });
    const finish = () => {
      socket.destroy();
      done();
    };
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().raw;
      if (raw) found.set(`${host}:${port}`, createHash('sha256').update(raw).digest('hex'));
      finish();
    });
    socket.once('error', finish).once('timeout', finish);
  });
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: settings.loopConcurrency }, async () => {
    while (next < addresses.length) await one(addresses[next++]!);
  }));
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, found };
}

/** Ours: a scan row and its `network-scan.run` job, as the api's POST …/scan makes them; done when the row says so. */
async function runOurs(db: Client, queue: Queue, cidr: string, port: number): Promise<{ seconds: number; found: Map<string, string>; server_ms: number; errors: number }> {
  await db.query('DELETE FROM discovered_certificates'); // every round inserts the same rows afresh
  const scanId = `dscan_bench${randomBytes(8).toString('hex')}`;
  const started = process.hrtime.bigint();
  await db.query(
    `INSERT INTO discovery_scans (id, agent_id, source, status, directories, ports, sni_hostnames, timeout_ms, rate_limit_per_second)
     VALUES ($1, 'server-scanner', 'network', 'Pending', $2, $3, '{}', $4, $5)`, [scanId, [cidr], [port], settings.timeoutMs, settings.rateLimit]);
  await queue.add('network-scan.run', { scanId, correlationId: scanId }, { jobId: `network-scan.run__${scanId}`, attempts: 1 });
  const deadline = Date.now() + 15 * 60_000;
  let row: { status: string; scan_duration_ms: number; errors_count: number; last_error: string | null } | undefined;
  for (;;) {
    row = (await db.query('SELECT status, scan_duration_ms, errors_count, last_error FROM discovery_scans WHERE id = $1', [scanId])).rows[0];
    if (row && (row.status === 'Completed' || row.status === 'Failed')) break;
    if (Date.now() > deadline) throw new Error(`scan ${scanId} not done after 15 minutes`);
    await sleep(10);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (row.status !== 'Completed') throw new Error(`scan ${scanId} ${row.status}: ${row.last_error}`);
  const rows = (await db.query('SELECT source_path, fingerprint_sha256 FROM discovered_certificates WHERE discovery_scan_id = $1', [scanId])).rows;
  return { seconds, found: new Map(rows.map((r) => [r.source_path, r.fingerprint_sha256])), server_ms: row.scan_duration_ms, errors: row.errors_count };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
};
const r2 = (n: number) => Math.round(n * 100) / 100;
const summary = (values: number[]) => ({ median: r2(median(values)), min: r2(Math.min(...values)), max: r2(Math.max(...values)), n: values.length });
const show = (s: ReturnType<typeof summary>) => `${s.median} [${s.min}–${s.max}] n=${s.n}`;

async function main(): Promise<void> {
  const nmapVersion = ensureNmap();
  const loadAtStart = loadavg()[0]!;
  if (loadAtStart > 3) console.warn(`load average ${loadAtStart.toFixed(1)} on ${cpus().length} cores: figures will be noisy`);
  const url = await freshDatabase(settings.adminUrl, DATABASE);
  const prefix = `bench-scan-${randomBytes(4).toString('hex')}`;
  const db = new Client({ connectionString: url });
  await db.connect();
  const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('scan', { connection: redis, prefix });
  const port = await freePort();
  const fleets: ChildProcess[] = [];
  const scanners: AppProcess[] = [];
  const exitHandler = () => {
    scanners.forEach((s) => s.killNow());
    fleets.forEach((c) => c.kill('SIGKILL'));
  };
  process.once('exit', exitHandler);
  try {
    const cases = [];
    for (const c of CASES) {
      const addresses = hostAddresses(c.cidr);
      const fleet = await startFleet(spread(addresses, settings.live), port, settings.fleetProcesses);
      fleets.push(...fleet.children);
      cases.push({ ...c, addresses, expected: fleet.expected });
    }
    // The shipped log level; only loopback allowed (the bench's ranges) and the connection cap lifted.
    for (let i = 0; i < settings.replicas; i++) {
      scanners.push(await AppProcess.start('scanner', {
        CERTCTL_DATABASE_URL: url, CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: prefix,
        CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_NETWORK_SCAN_RATE_LIMIT: String(settings.rateLimit),
      }));
    }
    await Promise.all(scanners.map((s) => s.waitReady()));

    const results = [];
    for (const c of cases) {
      const runs: Run[] = [];
      const extra: Record<string, unknown>[] = [];
      for (let round = 0; round < settings.rounds; round++) {
        const order = TOOLS.map((_, i) => TOOLS[(i + round) % TOOLS.length]!);
        for (const tool of order) {
          const load = loadavg()[0]!;
          let outcome: { seconds: number; found: Map<string, string> };
          if (tool === 'ours') {
            const ours = await runOurs(db, queue, c.cidr, port);
            extra.push({ round, server_ms: ours.server_ms, errors: ours.errors });
            outcome = ours;
          } else if (tool === 'loop') outcome = await runLoop(c.addresses, port);
          else outcome = await runNmap(c.cidr, port, tool === 'nmap');
          const counts = tool === 'nmap_sweep' ? { found: outcome.found.size, wrong: 0 } : tally(outcome.found, c.expected);
          const run = { round, tool, seconds: r2(outcome.seconds), addresses_per_s: Math.round(c.addresses.length / outcome.seconds), ...counts, load_average: r2(load) };
          runs.push(run);
          console.log(`${c.name} round ${round + 1}: ${tool.padEnd(10)} ${run.seconds.toFixed(2)} s  ${run.addresses_per_s} addr/s  found ${run.found}/${c.expected.size}${run.wrong ? ` (${run.wrong} wrong)` : ''}  load ${run.load_average}`);
        }
      }
      const of = (tool: Tool) => runs.filter((r) => r.tool === tool);
      const ratio = (peer: Tool) => (TOOLS.includes('ours') && TOOLS.includes(peer) ? { ...summary(perRound(peer)), per_round: perRound(peer).map(r2) } : null);
      const perRound = (peer: Tool) => Array.from({ length: settings.rounds }, (_, round) =>
        (runs.find((r) => r.tool === peer && r.round === round)?.seconds ?? NaN) / (runs.find((r) => r.tool === 'ours' && r.round === round)?.seconds ?? NaN));
      results.push({
        case: c.name, cidr: c.cidr, addresses: c.addresses.length, live_endpoints: c.expected.size,
        tools: Object.fromEntries(TOOLS.map((tool) => [tool, {
          seconds: summary(of(tool).map((r) => r.seconds)),
          addresses_per_s: summary(of(tool).map((r) => r.addresses_per_s)),
          certificates_found: summary(of(tool).map((r) => r.found)),
        }])),
        // > 1 means ours is faster: the peer's time over ours, round by round.
        ratio_vs_nmap: ratio('nmap'),
        ratio_vs_loop: ratio('loop'),
        ratio_vs_nmap_sweep: ratio('nmap_sweep'),
        ours_server_side: extra,
        runs,
      });
    }
    const result = {
      measured_at: new Date().toISOString(),
      quick: QUICK,
      machine: { cpus: cpus().length, load_average_at_start: r2(loadAtStart), load_average_at_end: r2(loadavg()[0]!) },
      peers: {
        nmap: `${nmapVersion}: nmap -n -Pn -T4 -p <port> --script ssl-cert -oX <file> <cidr>`,
        nmap_sweep: 'the same without --script (TCP sweep only; found = open ports)',
        loop: `node:tls connect over every address, ${settings.loopConcurrency} at once, ${settings.timeoutMs} ms timeout`,
        ours: `${settings.replicas} scanner process(es) (shipped defaults, log level included) with CERTCTL_NETWORK_SCAN_RATE_LIMIT=${settings.rateLimit}, ${settings.timeoutMs} ms timeout`,
      },
      settings: { rounds: settings.rounds, live_per_case: settings.live, fleet_processes: settings.fleetProcesses, scanner_replicas: settings.replicas },
      cases: results,
    };
    console.log('\n| case | tool | seconds | addresses/s | certificates found |');
    for (const r of results) {
      for (const tool of TOOLS) {
        const t = r.tools[tool]!;
        console.log(`| ${r.case} | ${tool} | ${show(t.seconds)} | ${show(t.addresses_per_s)} | ${show(t.certificates_found)} of ${r.live_endpoints} |`);
      }
      const shown = (x: ReturnType<typeof summary> | null) => (x ? show(x) : '-');
      console.log(`| ${r.case} | ours vs nmap (×, >1 = faster) | ${shown(r.ratio_vs_nmap)} | vs loop ${shown(r.ratio_vs_loop)} | vs sweep ${shown(r.ratio_vs_nmap_sweep)} |`);
    }
    mkdirSync(dirname(RESULTS_FILE), { recursive: true });
    writeFileSync(RESULTS_FILE, JSON.stringify(result, null, 2) + '\n');
    console.log(`written ${RESULTS_FILE}`);
  } finally {
    await Promise.all(scanners.map((s) => s.stop()));
    for (const child of fleets) child.disconnect();
    await queue.close();
    await db.end();
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
