import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedFingerprint } from '@certctl/deploy';
import { createCsr, DEFAULT_KEY_SPEC, generateKeyObjects } from '@certctl/pki';
import { JOB_QUEUE } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { freePort } from '@certctl/testing';
import { AgentWorkHub } from '../../apps/api/src/modules/agents/agent-work-hub';
import { missingPeer, NginxPeer, servedAfterReload } from '../../libs/deploy/src/testing/peers';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { AgentProcess } from '../support/agent-process';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const missing = missingPeer('nginx');
if (missing && process.env.CI !== 'true') console.warn(`[agent-long-poll.e2e-spec] skipped: ${missing}`);
const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

const ROOT = resolve(__dirname, '..', '..');
/** At most this many held requests per api process in this file (the cap test fills it). */
const MAX_HELD = 3;

interface WorkAnswer {
  status: number;
  body: { jobs?: Array<{ id: string; status: string; type: string }>; count?: number; details?: Array<{ field: string }>; code?: string };
  answeredAt: number;
  elapsedMs: number;
}

/**
 * Agents hear about work at once: GET /agents/{id}/work?wait=N held by the api and answered when work for the
 * agent is created by this api, by a second api process or by the orchestrator (Redis pub/sub), against real
 * PostgreSQL and Redis, with the shipped agent bundle deploying to a real nginx.
 */
suite('agent long-poll for work', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let nginx: NginxPeer;
  let serverUrl: string;
  let second: { child: ChildProcess; url: string; output: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } | undefined;
  const agents: AgentProcess[] = [];
  const home = mkdtempSync(join(tmpdir(), 'certctl-long-poll-e2e-'));

  const hub = () => p.app.get(AgentWorkHub);

  /** A second api process (the TypeScript sources under swc) on the same database, Redis and queue prefix. */
  const startSecondApi = async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['-r', resolve(__dirname, '..', 'support', 'swc-register.cjs'), resolve(ROOT, 'apps', 'api', 'src', 'main.ts')], {
      cwd: ROOT, env: { ...process.env, CERTCTL_SERVER_HOST: '127.0.0.1', CERTCTL_SERVER_PORT: String(port), CERTCTL_DEMO_SEED: 'false' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
    const url = `http://127.0.0.1:${port}`;
    await waitFor('the second api is ready', async () => {
      if (child.exitCode !== null) throw new Error(`second api exited:\n${output}`);
      return fetch(`${url}/ready`).then((r) => r.ok, () => false);
    }, 120_000);
    return { child, url, output: () => output, exited };
  };

  const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms\n${agents.map((a) => a.logs().slice(-3000)).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const longPoll = async (base: string, agent: { id: string; key: string }, query: string, signal?: AbortSignal): Promise<WorkAnswer> => {
    const started = Date.now();
    const res = await fetch(`${base}/api/v1/agents/${agent.id}/work?${query}`, { headers: { Authorization: `Bearer ${agent.key}` }, signal });
    const body = (await res.json()) as WorkAnswer['body'];
    const answeredAt = Date.now();
    return { status: res.status, body, answeredAt, elapsedMs: answeredAt - started };
  };

  /** The number of held requests an api process reports on its /metrics. */
  const heldOn = async (base: string) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('certctl_agent_long_polls_held'));
    return line ? Number(line.split(' ').at(-1)) : NaN;
  };

  const registerAgent = async () => {
    const registered = await post(p, '/api/v1/agents', { name: unique('lp-agent') });
    return { id: registered.id as string, key: registered.api_key as string };
  };

  /** An nginx target of the agent and a certificate mapped to it. */
  const certificateFor = async (agentId: string) => {
    const target = await post(p, '/api/v1/targets', {
      name: unique('nginx'), type: 'NGINX', agent_id: agentId,
      config: { cert_path: nginx.certPath, key_path: nginx.keyPath, validate_command: nginx.validateCommand, reload_command: nginx.reloadCommand },
    });
    return (await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }))).id as string;
  };

  const renew = async (certId: string) => {
    const res = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({});
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.job_id as string;
  };

  /** What a job row says about when it was created or last changed (the database's clock is this host's). */
  const jobTimes = async (jobId: string) => {
    const row = (await p.db.query('SELECT created_at, updated_at FROM jobs WHERE id = $1', [jobId])).rows[0];
    return { createdAt: (row.created_at as Date).getTime(), updatedAt: (row.updated_at as Date).getTime() };
  };

  /** Answers the AwaitingCSR job as the agent would, with a key made here. */
  const submitCsr = async (agent: { id: string; key: string }, certId: string) => {
    const cert = (await p.http.get(`/api/v1/certificates/${certId}`).set(p.auth()).expect(200)).body;
    const keys = await generateKeyObjects(DEFAULT_KEY_SPEC);
    const csr = await createCsr({ keys, keySpec: DEFAULT_KEY_SPEC, commonName: cert.common_name, sans: cert.sans });
    const res = await p.http.post(`/api/v1/agents/${agent.id}/csr`).set(p.auth(agent.key)).send({ certificate_id: certId, csr_pem: csr });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  };

  beforeAll(async () => {
    if (missing) throw new Error(`CI=true and nginx cannot run: ${missing}`);
    p = await startPlatform({ CERTCTL_KEYGEN_MODE: 'agent', CERTCTL_AGENT_OFFLINE_AFTER: '5m', CERTCTL_AGENT_LONG_POLL_MAX_HELD: String(MAX_HELD) });
    const port = await freePort();
    await p.app.listen(port, '127.0.0.1');
    serverUrl = `http://127.0.0.1:${port}`;
    inv = await createInventory(p);
    const placeholder = await (await TestCa.create()).issue();
    nginx = await NginxPeer.start({ certPem: placeholder.certPem, keyPem: placeholder.keyPem! });
    second = await startSecondApi();
  }, 180_000);

  afterAll(async () => {
    for (const agent of agents) await agent.kill();
    second?.child.kill('SIGKILL');
    nginx?.stop();
    await p?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('refuses a bad wait as a 400 naming the field, and another agent\'s key as today', async () => {
    const agent = await registerAgent();
    for (const wait of ['-1', '10000', 'abc', '1.5']) {
      const answer = await longPoll(serverUrl, agent, `wait=${wait}`);
      expect(answer.status, `wait=${wait}: ${JSON.stringify(answer.body)}`).toBe(400);
      expect(answer.body.details?.map((d) => d.field)).toEqual(['wait']);
    }
    const other = await registerAgent();
    expect((await longPoll(serverUrl, { id: agent.id, key: other.key }, 'wait=1')).status).toBe(403);
  });

  it('ends empty at its timeout, and a second long-poll of the agent replaces the first', async () => {
    const agent = await registerAgent();
    const empty = await longPoll(serverUrl, agent, 'wait=1');
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ jobs: [], count: 0 });
    expect(empty.elapsedMs).toBeGreaterThanOrEqual(950);
    expect(empty.elapsedMs).toBeLessThan(5_000);
    // Held requests stay out of the api's latency histogram (its p99 alert would otherwise be the agents' wait).
    const series = (await (await fetch(`${serverUrl}/metrics`)).text()).split('\n')
      .filter((l) => l.includes('route="/api/v1/agents/:id/work"') && l.includes('status_code="200"'));
    const value = (pick: (l: string) => boolean) => Number(series.find(pick)?.split(' ').at(-1) ?? 0);
    expect(value((l) => l.startsWith('http_request_duration_seconds_count'))).toBe(value((l) => l.includes('le="0.5"')));

    const first = longPoll(serverUrl, agent, 'wait=60');
    await waitFor('the first request is held', () => hub().holds(agent.id));
    const replacedAt = Date.now();
    const secondPoll = longPoll(serverUrl, agent, 'wait=2');
    const replaced = await first;
    expect(replaced.status).toBe(200);
    expect(replaced.body).toEqual({ jobs: [], count: 0 });
    expect(replaced.answeredAt - replacedAt).toBeLessThan(2_000);
    expect(hub().holds(agent.id)).toBe(true); // the newer one is held
    expect((await secondPoll).body.count).toBe(0);
    await waitFor('the timed-out request is let go', () => !hub().holds(agent.id));
  });

  it('delivers AwaitingCSR work from the orchestrator and the Deployment after the CSR to a held long-poll within 1 s', async () => {
    const agent = await registerAgent();
    const certId = await certificateFor(agent.id);
    // Held on the second api process: the orchestrator's notification crosses Redis to it.
    const held = longPoll(second!.url, agent, 'wait=60');
    await waitFor('the request is held on the second api', async () => (await heldOn(second!.url)) === 1);
    const jobId = await renew(certId);
    const csrWork = await held;
    expect(csrWork.status).toBe(200);
    expect(csrWork.body.jobs).toEqual([expect.objectContaining({ id: jobId, status: 'AwaitingCSR' })]);
    const awaitingSince = (await jobTimes(jobId)).updatedAt;
    expect(csrWork.answeredAt - awaitingSince, 'AwaitingCSR to the held request').toBeLessThan(1_000);

    // Held on this api; the orchestrator signs the CSR and creates the agent's Deployment job. The issuance queue
    // is paused while the CSR goes in (an AwaitingCSR job would answer the long-poll at once), so the request is
    // held when the Deployment job appears.
    const issuanceQueue = p.app.get(JobProducer).queue(JOB_QUEUE['csr.sign']);
    await issuanceQueue.pause();
    let deployWork: WorkAnswer;
    try {
      await submitCsr(agent, certId);
      const deployHeld = longPoll(serverUrl, agent, 'wait=60');
      await waitFor('the request is held', () => hub().holds(agent.id));
      await issuanceQueue.resume();
      deployWork = await deployHeld;
    } finally {
      await issuanceQueue.resume();
    }
    expect(deployWork.body.jobs).toEqual([expect.objectContaining({ type: 'Deployment', status: 'Running' })]);
    const created = (await jobTimes(deployWork.body.jobs![0]!.id)).createdAt;
    expect(deployWork.answeredAt - created, 'Deployment to the held request').toBeLessThan(1_000);
  });

  it('delivers a deployment triggered on one api process to a long-poll held by the other within 1 s, both ways', async () => {
    const agent = await registerAgent();
    const certId = await certificateFor(agent.id);
    const jobId = await renew(certId);
    await p.waitForJob(jobId, ['AwaitingCSR']);
    await submitCsr(agent, certId);
    await p.waitForJob(jobId, ['Completed']);
    // The issuance's own Deployment job, out of the way.
    expect((await longPoll(serverUrl, agent, 'wait=0')).body.count).toBe(1);

    const ways = [
      { holdOn: serverUrl, holds: async () => hub().holds(agent.id), triggerOn: second!.url },
      { holdOn: second!.url, holds: async () => (await heldOn(second!.url)) === 1, triggerOn: serverUrl },
    ];
    for (const way of ways) {
      const held = longPoll(way.holdOn, agent, 'wait=60');
      await waitFor(`the request is held on ${way.holdOn}`, way.holds);
      const res = await fetch(`${way.triggerOn}/api/v1/certificates/${certId}/deploy`, {
        method: 'POST', headers: { ...p.auth(), 'Content-Type': 'application/json' }, body: '{}',
      });
      const triggered = (await res.json()) as { jobs: Array<{ job_id: string }> };
      expect(res.status, JSON.stringify(triggered)).toBe(202);
      const answer = await held;
      expect(answer.body.jobs?.map((j) => j.id)).toEqual([triggered.jobs[0]!.job_id]);
      const created = (await jobTimes(triggered.jobs[0]!.job_id)).createdAt;
      expect(answer.answeredAt - created, `triggered on ${way.triggerOn}, held on ${way.holdOn}`).toBeLessThan(1_000);
    }
  });

  it(`holds at most ${MAX_HELD} requests per api process: the next is a 429, and a client that leaves frees its place`, async () => {
    const fleet = await Promise.all(Array.from({ length: MAX_HELD + 1 }, () => registerAgent()));
    const leave = new AbortController();
    const held = fleet.slice(0, MAX_HELD).map((agent) => longPoll(serverUrl, agent, 'wait=60', leave.signal).catch((err: Error) => err));
    await waitFor('the cap is reached', () => fleet.slice(0, MAX_HELD).every((a) => hub().holds(a.id)));
    expect(await heldOn(serverUrl)).toBe(MAX_HELD);
    const refused = await longPoll(serverUrl, fleet[MAX_HELD]!, 'wait=60');
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('LONG_POLL_CAPACITY');
    // A plain poll is still answered.
    expect((await longPoll(serverUrl, fleet[MAX_HELD]!, 'wait=0')).status).toBe(200);
    leave.abort();
    await Promise.all(held);
    await waitFor('the places are free again', async () => (await heldOn(serverUrl)) === 0);
    const now = longPoll(serverUrl, fleet[MAX_HELD]!, 'wait=1');
    expect((await now).status).toBe(200);
  });

  it('the real agent, polling every 5 minutes, deploys a renewal to nginx within a few seconds through its long-poll', async () => {
    const agent = await registerAgent();
    const certId = await certificateFor(agent.id);
    const process_ = await AgentProcess.start({
      CERTCTL_SERVER_URL: serverUrl, CERTCTL_AGENT_ID: agent.id, CERTCTL_API_KEY: agent.key,
      CERTCTL_KEY_DIR: join(home, 'keys'), CERTCTL_AGENT_STATE_DIR: join(home, 'state'),
      CERTCTL_AGENT_POLL_INTERVAL: '5m', CERTCTL_AGENT_HEARTBEAT_INTERVAL: '1m', CERTCTL_AGENT_LONG_POLL: '25s',
    });
    agents.push(process_);
    await waitFor('the agent holds a long-poll', () => hub().holds(agent.id));
    const renewedAt = Date.now();
    const jobId = await renew(certId);
    await p.waitForJob(jobId, ['Completed'], 10_000);
    const version = (await p.db.query('SELECT fingerprint_sha256 FROM certificate_versions WHERE certificate_id = $1', [certId])).rows[0];
    const deployment = (await p.db.query(`SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`, [certId])).rows[0];
    const done = await p.waitForJob(deployment.id, ['Completed', 'Failed'], 10_000);
    expect(done.status, done.last_error).toBe('Completed');
    const deployedIn = (done.completed_at as Date).getTime() - renewedAt;
    expect(deployedIn, 'renewal to deployment reported').toBeLessThan(5_000);
    expect(await servedAfterReload(() => servedFingerprint({ host: '127.0.0.1', port: nginx.port }), version.fingerprint_sha256)).toBe(version.fingerprint_sha256);
  });

  it('answers held requests at once when its process is told to stop, and exits 0 promptly', async () => {
    const agent = await registerAgent();
    const held = longPoll(second!.url, agent, 'wait=60');
    await waitFor('the request is held on the second api', async () => (await heldOn(second!.url)) === 1);
    const stoppedAt = Date.now();
    second!.child.kill('SIGTERM');
    const answer = await held;
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ jobs: [], count: 0 });
    expect(answer.answeredAt - stoppedAt, 'held request answered after SIGTERM').toBeLessThan(2_000);
    expect(await second!.exited, second!.output()).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt, 'exit after SIGTERM').toBeLessThan(10_000);
    second = undefined;
  });
});
