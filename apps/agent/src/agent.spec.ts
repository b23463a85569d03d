import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CertctlAgent } from './agent';
import type { AgentConfig } from './config';
import { Logger } from './logger';
import { TestCa } from '../../../libs/deploy/src/testing/material';

/** A fake certctl api on loopback (the real one is in test/e2e/agent.e2e-spec.ts): it answers /work as each test scripts. */
class FakeApi {
  readonly workCalls: number[] = [];
  /** Each work poll's query string ('' when none). */
  readonly workQueries: string[] = [];
  private server: Server;
  private constructor(private readonly answerWork: (call: number, res: ServerResponse) => void, tls?: { cert: string; key: string }) {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      const [path = '', query = ''] = (req.url ?? '').split('?');
      if (path.endsWith('/work')) {
        this.workCalls.push(Date.now());
        this.workQueries.push(query);
        this.answerWork(this.workCalls.length, res);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    };
    this.server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  }

  static async start(answerWork: (call: number, res: ServerResponse) => void, tls?: { cert: string; key: string }): Promise<{ api: FakeApi; url: string }> {
    const api = new FakeApi(answerWork, tls);
    await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r));
    return { api, url: `${tls ? 'https' : 'http'}://127.0.0.1:${(api.server.address() as { port: number }).port}` };
  }

  gaps(): number[] {
    return this.workCalls.slice(1).map((t, i) => t - this.workCalls[i]!);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const dirs: string[] = [];
function config(serverUrl: string, overrides: Partial<AgentConfig> = {}): AgentConfig {
  const home = mkdtempSync(join(tmpdir(), 'agent-spec-'));
  dirs.push(home);
  return {
    serverUrl, agentId: 'agent-spec', apiKey: 'not-a-real-key', keyDir: join(home, 'keys'), stateDir: join(home, 'state'),
    pollIntervalMs: 300, longPollWaitMs: 0, heartbeatIntervalMs: 60_000, backoffBaseMs: 100, maxBackoffMs: 2_000, requestTimeoutMs: 2_000,
    commandTimeoutMs: 5_000, discoveryDirs: [], discoveryIntervalMs: 3_600_000, logLevel: 'error', ...overrides,
  };
}

const waitUntil = async (check: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('agent polling against a fake api', () => {
  let fake: FakeApi | undefined;
  afterEach(async () => {
    await fake?.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps polling through 5xx answers and garbage bodies, backing off exponentially, then returns to its interval', async () => {
    const started = await FakeApi.start((call, res) => {
      if (call <= 3) res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"error":"unavailable","message":"restarting"}');
      else if (call <= 5) res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>proxy error</html>');
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jobs":[],"count":0}');
    });
    fake = started.api;
    const agent = new CertctlAgent(config(started.url), new Logger('error', () => undefined));
    const running = agent.run();
    await waitUntil(() => fake!.workCalls.length >= 9, 15_000);
    agent.stop();
    expect(await running).toEqual({ reason: 'stopped' });

    const gaps = fake.gaps();
    // After failures 1..5 the waits are drawn from [50,100], [100,200], [200,400], [400,800], [800,1600] ms.
    expect(gaps[0]).toBeLessThan(200);
    expect(gaps[2]!).toBeGreaterThanOrEqual(190);
    expect(gaps[3]!).toBeGreaterThanOrEqual(390);
    expect(gaps[4]!).toBeGreaterThanOrEqual(790);
    expect(gaps[3]!).toBeGreaterThan(gaps[0]!);
    // Healthy again: back to the 300 ms interval (±10 %).
    for (const gap of gaps.slice(5, 8)) {
      expect(gap).toBeGreaterThanOrEqual(260);
      expect(gap).toBeLessThan(450);
    }
  });

  it('asks for its Running deployments again (resume=true) on its first poll and after a lost answer, not otherwise', async () => {
    const started = await FakeApi.start((call, res) => {
      if (call === 3) res.writeHead(502, { 'Content-Type': 'text/html' }).end('<html>bad gateway</html>');
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jobs":[],"count":0}');
    });
    fake = started.api;
    const agent = new CertctlAgent(config(started.url), new Logger('error', () => undefined));
    const running = agent.run();
    await waitUntil(() => fake!.workCalls.length >= 5, 10_000);
    agent.stop();
    await running;
    expect(fake.workQueries.slice(0, 5)).toEqual(['resume=true', '', '', 'resume=true', '']);
  });

  it('holds a long-poll beside its polls; stop() ends the held request at once', async () => {
    const started = await FakeApi.start((_, res) => {
      // Long-polls are held (never answered here); plain polls find nothing.
      if (!fake!.workQueries.at(-1)!.includes('wait=')) res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jobs":[],"count":0}');
    });
    fake = started.api;
    const agent = new CertctlAgent(config(started.url, { longPollWaitMs: 25_000 }), new Logger('error', () => undefined));
    const running = agent.run();
    await waitUntil(() => fake!.workQueries.some((q) => q.includes('wait=25')), 5_000);
    const stoppedAt = Date.now();
    agent.stop();
    expect(await running).toEqual({ reason: 'stopped' });
    expect(Date.now() - stoppedAt).toBeLessThan(1_000);
    expect(fake.workQueries.filter((q) => q.includes('wait=')).length).toBe(1);
  });

  it('polls only when the server refuses long-polls as bad input (a server from before them)', async () => {
    const started = await FakeApi.start((call, res) => {
      if (fake!.workQueries[call - 1]!.includes('wait=')) {
        res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"Bad Request","message":"property wait should not exist","code":"VALIDATION_FAILED"}');
      } else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jobs":[],"count":0}');
    });
    fake = started.api;
    const lines: string[] = [];
    const agent = new CertctlAgent(config(started.url, { longPollWaitMs: 25_000 }), new Logger('warn', (line) => lines.push(line)));
    const running = agent.run();
    await waitUntil(() => fake!.workQueries.filter((q) => !q.includes('wait=')).length >= 4, 10_000);
    agent.stop();
    await running;
    expect(fake.workQueries.filter((q) => q.includes('wait=')).length).toBe(1);
    expect(lines.some((l) => l.includes('does not take long-polls'))).toBe(true);
  });

  it('stops with the reason when the server refuses its key (401), instead of retrying', async () => {
    const started = await FakeApi.start((_, res) => res.writeHead(401).end('{"error":"unauthorized","message":"API key revoked"}'));
    fake = started.api;
    const agent = new CertctlAgent(config(started.url), new Logger('error', () => undefined));
    const exit = await agent.run();
    expect(exit.reason).toBe('rejected');
    expect(exit.reason === 'rejected' && exit.message).toMatch(/refused this agent's API key \(API key revoked\)/);
    expect(fake.workCalls.length).toBeLessThanOrEqual(1);
  });

  it('talks https to a server certified by a private CA given as caPem, and refuses it without', async () => {
    const ca = await TestCa.create();
    const leaf = await ca.issue(['localhost', '127.0.0.1']);
    const started = await FakeApi.start((_, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jobs":[],"count":0}'),
      { cert: leaf.certPem, key: leaf.keyPem! });
    fake = started.api;
    const trusting = new CertctlAgent(config(started.url, { caPem: ca.pem }), new Logger('error', () => undefined));
    const running = trusting.run();
    await waitUntil(() => fake!.workCalls.length >= 2, 10_000);
    trusting.stop();
    expect(await running).toEqual({ reason: 'stopped' });

    const calls = fake.workCalls.length;
    const lines: string[] = [];
    const doubting = new CertctlAgent(config(started.url), new Logger('warn', (line) => lines.push(line)));
    const again = doubting.run();
    await waitUntil(() => lines.some((l) => /self-signed|unable to verify|issuer certificate/i.test(l)), 10_000);
    doubting.stop();
    await again;
    expect(fake.workCalls.length).toBe(calls);
  });
});
