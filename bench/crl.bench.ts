/**
 * bench:crl — building the CRL of 1,000,000 revoked serials with libs/pki's buildCrl (what CrlService runs,
 * signature included), in this process, interleaved (A B A B …, order rotated each round, BENCH_ROUNDS ≥ 3):
 *  - one-shard: the CRL of one of 16 shards (the serials crlShardOf puts in shard 0, ≈ 62,500), with its
 *    Issuing Distribution Point;
 *  - sixteen-shards: all 16 shard CRLs one after the other (the schedule tick's work for a sharded issuer);
 *  - unsharded: the full CRL of all 1,000,000 (the unsharded URL's CRL);
 *  - per-entry baseline: the same full CRL with buildCrl as it was before (a Buffer per field and entry,
 *    bench/lib/crl-per-entry-builder.ts), to show what the direct writer changed.
 * Goal: sixteen-shards ≤ 16 × one-shard (building is linear in the entries). Every output is checked: its
 * to-be-signed bytes equal the baseline's for the same input, and `openssl crl -CAfile` verifies the signature
 * and counts the entries (first round). The database read (certificate_revocations by issuer and shard) is
 * not in these figures. A second part runs the real CrlService (libs/issuers) on PostgreSQL holding the same
 * 1,000,000 revocations (crl_shard set as issuance sets it), interleaved the same way: read + build + store of
 * one shard, of all 16, and of the full CRL (the issuer lookup is a stub returning the bench CA; BENCH_CRL_DATABASE=0
 * skips this part).
 * Environment: BENCH_ROUNDS (3), BENCH_QUICK=1 (100,000 serials: proves the bench works, figures are not results),
 * CERTCTL_BENCH_DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres), CERTCTL_BENCH_REDIS_URL.
 * Writes bench/results/crl.json. Run it under `flock /tmp/certctl-bench.lock`.
 */
import { execFileSync } from 'node:child_process';
import { KeyObject, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildCrl, children, createCaCertificate, crlShardOf, generateKeyPair, issuerIdentityOf, certificatePemToDer, KeySpec,
  readOnly, RevocationReason, RevokedEntry, Signer,
} from '@certctl/pki';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { AppConfig } from '@certctl/config';
import { dataSourceOptions } from '@certctl/db';
import { CrlService, RevocationAuthorities, RevocationAuthority } from '@certctl/issuers';
import { ClusterCounters } from '@certctl/observability';
import { freshDatabase } from './lib/bench-dataset';
import { round } from './lib/http-load';
import { buildCrlPerEntry } from './lib/crl-per-entry-builder';
import { resultsFile, writeResultsFile } from './lib/results-file';
import { formatRatio, formatSpread, interleave, loadAverage, quickMode, ratioOf, roundsFromEnv, spreadOf } from './lib/rounds';

const quick = quickMode();
const TOTAL = quick ? 100_000 : 1_000_000;
const SHARDS = 16;
const SPEC: KeySpec = { algorithm: 'ECDSA', curve: 'P-256' };
const REASONS: RevocationReason[] = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged'];
const BASE_URL = 'https://pki.example.com/.well-known/pki/crl/iss-bench';

interface Run {
  /** Wall clock. */
  ms: number;
  /** This process's CPU time (user + system, all its threads) over the build: what the machine's load inflates least. */
  cpu_ms: number;
  entries: number;
  bytes: number;
  /** Heap + external growth while building (MiB), a lower bound of the builder's memory. */
  memory_mib: number;
}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** Serials as the Local CA makes them (16 random bytes, positive), revoked over the last year, mixed reasons. */
function revokedSerials(count: number): RevokedEntry[] {
  const now = Date.now();
  const pool = randomBytes(count * 16);
  return Array.from({ length: count }, (_, i) => {
    pool[i * 16] = (pool[i * 16]! & 0x7f) | 0x01;
    return {
      serialNumber: pool.subarray(i * 16, i * 16 + 16).toString('hex'),
      revokedAt: new Date(now - Math.floor((i / count) * 365 * 86_400_000)),
      reason: REASONS[i % REASONS.length]!,
    };
  });
}

function measure(build: () => Buffer[]): Run & { outputs: Buffer[] } {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const outputs = build();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const after = process.memoryUsage();
  return {
    ms: round(ms, 1), cpu_ms: round((cpu.user + cpu.system) / 1000, 1), entries: 0, bytes: outputs.reduce((n, b) => n + b.length, 0), outputs,
    memory_mib: round((after.heapUsed + after.external - before.heapUsed - before.external) / 1_048_576, 1),
  };
}

const tbsOf = (der: Buffer) => children(readOnly(der).content)[0]!.raw;

async function main(): Promise<void> {
  const keys = await generateKeyPair(SPEC);
  const caPem = await createCaCertificate({ keys, keySpec: SPEC, commonName: 'bench:crl CA', validityDays: 365 });
  const issuer = issuerIdentityOf(certificatePemToDer(caPem));
  const signer: Signer = { key: KeyObject.from(keys.privateKey), spec: SPEC };
  log(`bench:crl — ${TOTAL.toLocaleString('en')} revoked serials, ${SHARDS} shards${quick ? ' (quick mode: figures are not results)' : ''}`);
  const all = revokedSerials(TOTAL);
  const shards: RevokedEntry[][] = Array.from({ length: SHARDS }, () => []);
  for (const entry of all) shards[crlShardOf(entry.serialNumber, SHARDS)]!.push(entry);
  const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
  const nextUpdate = new Date(thisUpdate.getTime() + 86_400_000);
  const params = (revoked: RevokedEntry[], shard?: number) => ({
    issuer, signer, crlNumber: 1, thisUpdate, nextUpdate, revoked, ...(shard === undefined ? {} : { distributionPoint: `${BASE_URL}/${shard}` }),
  });

  const dir = mkdtempSync(join(tmpdir(), 'bench-crl-'));
  writeFileSync(join(dir, 'ca.pem'), caPem);
  const checked: Record<string, { entries: number; openssl: string }> = {};
  /** First round: the TBS equals the per-entry builder's, and openssl verifies the CRL and counts its entries. */
  const check = (name: string, der: Buffer, revoked: RevokedEntry[], shard?: number) => {
    if (checked[name]) return;
    if (!tbsOf(der).equals(tbsOf(buildCrlPerEntry(params(revoked, shard))))) throw new Error(`${name}: the CRL differs from the per-entry builder's`);
    writeFileSync(join(dir, `${name}.der`), der);
    // openssl reports "verify OK" on stderr.
    const verified = execFileSync('sh', ['-c', `openssl crl -inform DER -in ${name}.der -CAfile ca.pem -noout 2>&1`], { cwd: dir, encoding: 'utf8' });
    const text = execFileSync('sh', ['-c', `openssl crl -inform DER -in ${name}.der -noout -text | grep -c 'Serial Number:'`], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 20 });
    const entries = Number(text.trim());
    if (!/verify OK/.test(verified) || entries !== revoked.length) throw new Error(`${name}: openssl says ${verified.trim()}, ${entries} entries (expected ${revoked.length})`);
    checked[name] = { entries, openssl: 'verify OK' };
    log(`  checked ${name}: ${entries.toLocaleString('en')} entries, openssl verify OK, same TBS as the per-entry builder`);
  };

  // Warm-up (not recorded): both builders compiled by the JIT before the first measured run.
  for (let i = 0; i < 3; i++) {
    buildCrl(params(shards[1]!, 1));
    buildCrlPerEntry(params(shards[1]!, 1));
  }
  const rounds = roundsFromEnv();
  const records = await interleave<Run>([
    {
      name: 'one-shard',
      run: async () => {
        const r = measure(() => [buildCrl(params(shards[0]!, 0))]);
        check('one-shard', r.outputs[0]!, shards[0]!, 0);
        return { ms: r.ms, cpu_ms: r.cpu_ms, entries: shards[0]!.length, bytes: r.bytes, memory_mib: r.memory_mib };
      },
    },
    {
      name: 'sixteen-shards',
      run: async () => {
        const r = measure(() => shards.map((revoked, shard) => buildCrl(params(revoked, shard))));
        r.outputs.forEach((der, shard) => { if (shard === SHARDS - 1) check('last-shard', der, shards[shard]!, shard); });
        return { ms: r.ms, cpu_ms: r.cpu_ms, entries: TOTAL, bytes: r.bytes, memory_mib: r.memory_mib };
      },
    },
    {
      name: 'unsharded',
      run: async () => {
        const r = measure(() => [buildCrl(params(all))]);
        check('unsharded', r.outputs[0]!, all);
        return { ms: r.ms, cpu_ms: r.cpu_ms, entries: TOTAL, bytes: r.bytes, memory_mib: r.memory_mib };
      },
    },
    {
      name: 'per-entry-baseline',
      run: async () => {
        const r = measure(() => [buildCrlPerEntry(params(all))]);
        return { ms: r.ms, cpu_ms: r.cpu_ms, entries: TOTAL, bytes: r.bytes, memory_mib: r.memory_mib };
      },
    },
  ], rounds, { progress: (m) => log(`  ${m}`) });
  rmSync(dir, { recursive: true, force: true });

  const database = process.env.BENCH_CRL_DATABASE === '0' ? null : await databasePart({ caPem, keys: { identity: issuer, signer }, all, shards, rounds });

  const times = spreadOf(records, (r) => r.ms);
  const cpuTimes = spreadOf(records, (r) => r.cpu_ms);
  const linearity = ratioOf(records, (r) => r.ms, 'sixteen-shards', 'one-shard');
  const linearityCpu = ratioOf(records, (r) => r.cpu_ms, 'sixteen-shards', 'one-shard');
  const speedup = ratioOf(records, (r) => r.ms, 'per-entry-baseline', 'unsharded');
  const report = {
    timestamp: new Date().toISOString(),
    quick,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, total_memory_gib: round(totalmem() / 1_073_741_824, 1), node: process.version, loadavg_at_end: loadAverage() },
    settings: { revoked: TOTAL, shards: SHARDS, shard_sizes: shards.map((s) => s.length), key: 'ECDSA P-256', rounds },
    goal: 'sixteen-shards ≤ 16 × one-shard',
    loadavg_per_round: records.map((r) => ({ start: r.loadavg_start, end: r.loadavg_end })),
    figures_ms: times,
    figures_cpu_ms: cpuTimes,
    sixteen_shards_over_one_shard: linearity,
    sixteen_shards_over_one_shard_cpu: linearityCpu,
    goal_met: linearity.median <= SHARDS,
    per_entry_baseline_over_unsharded: speedup,
    checked,
    rounds: records,
    database,
  };
  writeResultsFile(resultsFile('crl'), report);
  log(`one shard (${shards[0]!.length.toLocaleString('en')}): ${formatSpread(times['one-shard']!)} ms`);
  log(`sixteen shards (${TOTAL.toLocaleString('en')}): ${formatSpread(times['sixteen-shards']!)} ms; ${formatRatio(linearity)} (goal ≤ ${SHARDS}: ${report.goal_met ? 'met' : 'MISSED'})`);
  log(`CPU time: one shard ${formatSpread(cpuTimes['one-shard']!)} ms, sixteen ${formatSpread(cpuTimes['sixteen-shards']!)} ms (${formatRatio(linearityCpu)}), unsharded ${formatSpread(cpuTimes.unsharded!)} ms, per-entry ${formatSpread(cpuTimes['per-entry-baseline']!)} ms`);
  log(`unsharded (${TOTAL.toLocaleString('en')}): ${formatSpread(times.unsharded!)} ms; per-entry baseline ${formatSpread(times['per-entry-baseline']!)} ms (${formatRatio(speedup)})`);
  if (database) {
    log(`database (CrlService: read, build, store): one shard ${formatSpread(database.figures_ms['db-one-shard']!)} ms, sixteen ${formatSpread(database.figures_ms['db-sixteen-shards']!)} ms (${formatRatio(database.sixteen_shards_over_one_shard)}), unsharded ${formatSpread(database.figures_ms['db-unsharded']!)} ms`);
  }
  log(`results: ${resultsFile('crl')}`);
}

const ISSUER = 'iss-bench-crl';

/** The real CrlService on PostgreSQL holding the revocations; returns its figures. */
async function databasePart(input: {
  caPem: string; keys: { identity: RevocationAuthority['identity']; signer: Signer }; all: RevokedEntry[]; shards: RevokedEntry[][]; rounds: number;
}) {
  const adminUrl = process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = await freshDatabase(adminUrl, 'certctl_bench_crl');
  const db = new Client({ connectionString: url, application_name: 'certctl-bench' });
  await db.connect();
  log(`  database: inserting ${input.all.length.toLocaleString('en')} revocations…`);
  await db.query(`INSERT INTO owners (id, name, email) VALUES ('o-bench', 'bench', 'bench@example.com')`);
  await db.query(`INSERT INTO issuers (id, name, type, config) VALUES ($1, 'bench CRL issuer', 'GenericCA', '{"crl_shards": 16}')`, [ISSUER]);
  await db.query(`INSERT INTO managed_certificates (id, name, common_name, owner_id, issuer_id, renewal_policy_id, status)
                  VALUES ('mc-bench-crl', 'bench-crl.example.com', 'bench-crl.example.com', 'o-bench', $1, 'rp-default', 'Revoked')`, [ISSUER]);
  for (let start = 0; start < input.all.length; start += 50_000) {
    const chunk = input.all.slice(start, start + 50_000);
    await db.query(
      `INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_number, reason, revoked_at, issuer_notified, crl_shard)
       SELECT 'rev-' || s.serial, 'mc-bench-crl', $1, s.serial, s.reason, s.revoked_at, true, s.shard
         FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::smallint[]) AS s(serial, reason, revoked_at, shard)`,
      [ISSUER, chunk.map((e) => e.serialNumber), chunk.map((e) => e.reason), chunk.map((e) => e.revokedAt), chunk.map((e) => crlShardOf(e.serialNumber, SHARDS))],
    );
  }
  await db.query('ANALYZE certificate_revocations');
  const dataSource = await new DataSource(dataSourceOptions({ url, maxConns: 2, applicationName: 'certctl-bench' })).initialize();
  const redis = new Redis(process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false });
  const config = { redis: { queuePrefix: `certctl-bench-crl-${process.pid}` }, revocation: { crlValidityMs: 86_400_000, crlRateLimitPerMinute: 0 } } as unknown as AppConfig;
  const authority = {
    issuerId: ISSUER, identity: input.keys.identity, signer: input.keys.signer, crlShards: SHARDS,
    crlDistributionPoint: (shard?: number) => (shard === undefined ? BASE_URL : `${BASE_URL}/${shard}`),
  } as RevocationAuthority;
  const authorities = { forIssuer: async () => authority } as unknown as RevocationAuthorities;
  const service = new CrlService(dataSource, authorities, new ClusterCounters(redis, config), config, redis);
  const timed = async (work: () => Promise<unknown>): Promise<Run> => {
    (globalThis as { gc?: () => void }).gc?.();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await work();
    const cpu = process.cpuUsage(cpuBefore);
    return { ms: round(performance.now() - started, 1), cpu_ms: round((cpu.user + cpu.system) / 1000, 1), entries: 0, bytes: 0, memory_mib: 0 };
  };
  const records = await interleave<Run>([
    { name: 'db-one-shard', run: () => timed(() => service.generate(ISSUER, 0)) },
    { name: 'db-sixteen-shards', run: () => timed(async () => { for (let s = 0; s < SHARDS; s++) await service.generate(ISSUER, s); }) },
    { name: 'db-unsharded', run: () => timed(() => service.generate(ISSUER)) },
  ], input.rounds, { progress: (m) => log(`  database ${m}`) });
  const { rows } = await db.query<{ shard: number; revoked_count: number; crl_number: string; bytes: number }>(
    'SELECT shard, revoked_count, crl_number, octet_length(crl_der) AS bytes FROM crl_cache WHERE issuer_id = $1 ORDER BY shard', [ISSUER],
  );
  const expected = [input.all.length, ...input.shards.map((s) => s.length)];
  if (rows.length !== SHARDS + 1 || rows.some((r, i) => r.revoked_count !== expected[i])) throw new Error(`crl_cache holds ${JSON.stringify(rows)}`);
  await dataSource.destroy();
  await db.end();
  redis.disconnect();
  return {
    figures_ms: spreadOf(records, (r) => r.ms),
    figures_cpu_ms_bench_process: spreadOf(records, (r) => r.cpu_ms),
    sixteen_shards_over_one_shard: ratioOf(records, (r) => r.ms, 'db-sixteen-shards', 'db-one-shard'),
    crl_cache: rows,
    rounds: records,
  };
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
