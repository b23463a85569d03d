/**
 * Mass re-issue drill benchmark (issue 22 item 4): how long until every certificate of an issuer is re-issued,
 * served by its targets and its old serial revoked.
 *
 *   npm run bench:reissue                         (wrap in `flock /tmp/certctl-bench.lock` on a shared machine)
 *   BENCH_CERTS=10000 BENCH_AGENTS=500 npm run bench:reissue   (the defaults)
 *
 * 1. (Re)creates the database `certctl_bench_reissue` with the real migrations; starts the built api and orchestrator
 *    (server keygen, the Local CA, CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL=BENCH_ADVANCE_INTERVAL, default 1s).
 * 2. Registers BENCH_AGENTS agents, one File target each, and inserts BENCH_CERTS Active certificates spread over the
 *    targets, each with a valid current version (its "old serial").
 * 3. Runs the simulated agents in this process: each holds GET /agents/{id}/work?wait=25 (the shipped long-poll),
 *    fetches each certificate it is given (GET /agents/{id}/certificates/{cert}) and reports the deployment
 *    Completed with a successful post-deploy verification of that certificate's fingerprint. They speak the agent
 *    protocol but write no files and open no TLS endpoint: what is timed is the platform (issuance, deployment
 *    hand-off, the drill's tracking and revocation), not a web server's reload.
 * 4. POST /issuers/{id}/reissue, then GET …/reissue/{drill} every second until the drill completes: the times until
 *    every certificate is issued, served (verified) and its old serial revoked.
 * Results in bench/results/reissue.json. The api, the orchestrator, PostgreSQL and the simulated agents share the
 * machine's cores.
 */
import 'reflect-metadata';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { AppProcess } from './lib/app-process';
import { freshDatabase } from './lib/bench-dataset';

const ROOT = resolve(__dirname, '..', '..');
const RESULTS_FILE = resolve(ROOT, 'bench', 'results', 'reissue.json');
const DATABASE = 'certctl_bench_reissue';

const settings = {
  adminUrl: process.env.CERTCTL_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CERTCTL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  certificates: Number(process.env.BENCH_CERTS ?? 10_000),
  agents: Number(process.env.BENCH_AGENTS ?? 500),
  advanceInterval: process.env.BENCH_ADVANCE_INTERVAL ?? '1s',
  timeoutS: Number(process.env.BENCH_TIMEOUT_S ?? 3600),
};

const progress = (text: string) => console.log(`[bench:reissue ${new Date().toISOString().slice(11, 19)}] ${text}`);

async function call<T>(baseUrl: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function must<T>(baseUrl: string, key: string, method: string, path: string, body: unknown, expected: number): Promise<T> {
  const res = await call<T>(baseUrl, key, method, path, body);
  if (res.status !== expected) throw new Error(`${method} ${path}: HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
  return res.body;
}

/** One simulated agent: long-polls for work, fetches the certificate, reports it deployed and verified. */
async function runAgent(baseUrl: string, agent: { id: string; key: string }, stop: AbortSignal, stats: { deployed: number; errors: number; firstError?: string }) {
  while (!stop.aborted) {
    try {
      const work = await call<{ jobs: Array<{ id: string; type: string; certificate_id: string }> }>(baseUrl, agent.key, 'GET', `/api/v1/agents/${agent.id}/work?wait=25`);
      if (work.status !== 200) throw new Error(`work: HTTP ${work.status}`);
      for (const job of work.body.jobs) {
        if (job.type !== 'Deployment') continue;
        const cert = await must<{ certificate_pem: string }>(baseUrl, agent.key, 'GET', `/api/v1/agents/${agent.id}/certificates/${job.certificate_id}`, undefined, 200);
        const fingerprint = new X509Certificate(cert.certificate_pem).fingerprint256.replace(/:/g, '').toLowerCase();
        await must(baseUrl, agent.key, 'POST', `/api/v1/agents/${agent.id}/jobs/${job.id}/status`,
          { status: 'Completed', verification_status: 'success', verification_fingerprint: fingerprint }, 200);
        stats.deployed++;
      }
    } catch (err) {
      if (stop.aborted) return;
      stats.errors++;
      stats.firstError ??= (err as Error).message;
      await sleep(500);
    }
  }
}

async function main(): Promise<void> {
  progress(`${settings.certificates} certificates over ${settings.agents} simulated agents; fresh database ${DATABASE}`);
  const url = await freshDatabase(settings.adminUrl, DATABASE);
  const apiKey = `bench-${randomBytes(24).toString('base64url')}`;
  const common: Record<string, string> = {
    CERTCTL_DATABASE_URL: url, CERTCTL_REDIS_URL: settings.redisUrl, CERTCTL_QUEUE_PREFIX: `bench-reissue-${randomBytes(4).toString('hex')}`,
    CERTCTL_API_KEY: apiKey, CERTCTL_CONFIG_ENCRYPTION_KEY: randomBytes(32).toString('base64url'), CERTCTL_KEYGEN_MODE: 'server',
    CERTCTL_LOG_LEVEL: 'warn', CERTCTL_DEMO_SEED: 'false', CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL: settings.advanceInterval,
    CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: '1h',
  };
  const api = await AppProcess.start('api', common);
  const orchestrator = await AppProcess.start('orchestrator', common);
  const db = new Client({ connectionString: url });
  const stop = new AbortController();
  try {
    await Promise.all([api.waitReady(), orchestrator.waitReady()]);
    await db.connect();
    const base = api.baseUrl;
    const team = await must<{ id: string }>(base, apiKey, 'POST', '/api/v1/teams', { name: 'bench' }, 201);
    const owner = await must<{ id: string }>(base, apiKey, 'POST', '/api/v1/owners', { name: 'bench', email: 'bench@example.com', team_id: team.id }, 201);
    const issuer = await must<{ id: string }>(base, apiKey, 'POST', '/api/v1/issuers', { name: 'bench-ca', type: 'GenericCA' }, 201);
    const policy = await must<{ id: string }>(base, apiKey, 'POST', '/api/v1/renewal-policies', { name: 'bench', renewal_window_days: 30 }, 201);
    const agents: Array<{ id: string; key: string; targetId: string }> = [];
    for (let i = 0; i < settings.agents; i++) {
      const agent = await must<{ id: string; api_key: string }>(base, apiKey, 'POST', '/api/v1/agents', { name: `bench-agent-${i}` }, 201);
      const target = await must<{ id: string }>(base, apiKey, 'POST', '/api/v1/targets',
        { name: `bench-target-${i}`, type: 'File', agent_id: agent.id, config: { cert_path: `/etc/ssl/certctl-bench/${i}.pem` } }, 201);
      agents.push({ id: agent.id, key: agent.api_key, targetId: target.id });
    }
    await db.query(
      `WITH c AS (
         INSERT INTO managed_certificates (id, name, common_name, sans, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at, tags)
         SELECT 'mc-bench-' || g, 'bench-' || g || '.example.com', 'bench-' || g || '.example.com', ARRAY['bench-' || g || '.example.com'],
                $1, $2, $3, $4, 'Active', now() + interval '60 days', '{}'
           FROM generate_series(1, $5::int) g RETURNING id),
       v AS (
         INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain)
         SELECT 'certver-old-' || c.id, c.id, md5(c.id), now() - interval '30 days', now() + interval '60 days', md5(c.id || 'fp'), '' FROM c
         RETURNING certificate_id)
       INSERT INTO certificate_target_mappings (certificate_id, target_id)
       SELECT v.certificate_id, ($6::text[])[1 + (substring(v.certificate_id from 10)::int % $7::int)] FROM v`,
      [owner.id, team.id, issuer.id, policy.id, settings.certificates, agents.map((a) => a.targetId), agents.length],
    );
    progress(`inventory ready: ${settings.agents} agents and targets, ${settings.certificates} certificates`);

    const stats = { deployed: 0, errors: 0, firstError: undefined as string | undefined };
    const running = agents.map((a) => runAgent(base, a, stop.signal, stats));

    const dry = await must<{ total: number }>(base, apiKey, 'POST', `/api/v1/issuers/${issuer.id}/reissue`, { reason: 'bench', dry_run: true }, 200);
    if (dry.total !== settings.certificates) throw new Error(`dry run counted ${dry.total}, expected ${settings.certificates}`);
    const started = Date.now();
    const drill = await must<{ drill_id: string; jobs_opened: number }>(base, apiKey, 'POST', `/api/v1/issuers/${issuer.id}/reissue`, { reason: 'bench' }, 202);
    const acceptedMs = Date.now() - started;
    progress(`drill ${drill.drill_id} accepted in ${acceptedMs} ms (${drill.jobs_opened} renewal jobs)`);
    const firstAt: Record<'issued' | 'verified' | 'revoked', number | null> = { issued: null, verified: null, revoked: null };
    const timeline: Array<Record<string, number>> = [];
    let last: Record<string, unknown> = {};
    for (;;) {
      last = await must<Record<string, unknown>>(base, apiKey, 'GET', `/api/v1/issuers/${issuer.id}/reissue/${drill.drill_id}`, undefined, 200);
      const elapsed = Date.now() - started;
      timeline.push({ elapsed_ms: elapsed, issued: last.issued as number, verified: last.verified as number, revoked: last.revoked as number, failed: last.failed as number });
      for (const k of ['issued', 'verified', 'revoked'] as const) if (firstAt[k] === null && last[k] === settings.certificates) firstAt[k] = elapsed;
      if (timeline.length % 10 === 0) progress(`${(elapsed / 1000).toFixed(0)} s: issued ${last.issued}, verified ${last.verified}, revoked ${last.revoked}, failed ${last.failed}`);
      if (last.status === 'completed') break;
      if (elapsed > settings.timeoutS * 1000) throw new Error(`drill not completed after ${settings.timeoutS} s: ${JSON.stringify(last)}`);
      await sleep(1000);
    }
    const totalMs = Date.now() - started;
    const result = {
      bench: 'reissue', at: new Date().toISOString(), machine: { cpus: cpus().length, loadavg_at_end: loadavg().map((l) => Math.round(l * 100) / 100) },
      settings: { ...settings, adminUrl: undefined, redisUrl: undefined },
      accepted_ms: acceptedMs,
      all_issued_ms: firstAt.issued, all_served_ms: firstAt.verified, all_old_serials_revoked_ms: firstAt.revoked, drill_completed_ms: totalMs,
      certificates_per_second: Math.round((settings.certificates / (totalMs / 1000)) * 10) / 10,
      final: last, agent_deployments_reported: stats.deployed, agent_errors: stats.errors, agent_first_error: stats.firstError ?? null,
      timeline,
    };
    mkdirSync(dirname(RESULTS_FILE), { recursive: true });
    writeFileSync(RESULTS_FILE, `${JSON.stringify(result, null, 2)}\n`);
    progress(`done: every old serial revoked after ${totalMs} ms (issued ${firstAt.issued} ms, served ${firstAt.verified} ms); ${RESULTS_FILE}`);
    stop.abort();
    await Promise.race([Promise.all(running), sleep(1000)]);
  } finally {
    stop.abort();
    await db.end().catch(() => undefined);
    await Promise.all([api.stop(), orchestrator.stop()]);
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
