/**
 * One process of bench:agents' long-poll fleet (forked by agents.bench.ts, several side by side so that the
 * simulated fleet is not its own bottleneck): its share of the agents, each the agent's own ApiClient holding
 * GET /work?wait=N one request after another. Every job a held request returns is reported to the parent with the
 * epoch time it arrived (performance.timeOrigin + now(): comparable across processes), so the parent times
 * delivery from the moment it committed and announced the work.
 *
 * Messages in: {type:'start', agents, waitS, rampMs}; {type:'stats'} (CPU and event-loop delay since the last
 * stats); {type:'stop'}. Out: {type:'delivered', jobId, at}; {type:'stats', …}; {type:'stopped'}.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../../apps/agent/src/modules/protocol/api-client';

export interface FleetAgent {
  id: string;
  key: string;
  serverUrl: string;
}

export type FleetCommand = { type: 'start'; agents: FleetAgent[]; waitS: number; rampMs: number } | { type: 'stats' } | { type: 'stop' };

export interface FleetStats {
  type: 'stats';
  cpu_pct: number;
  event_loop_delay_ms: { p50: number; p99: number; max: number };
  errors: number;
  first_error: string | null;
  answers: number;
  rss_mib: number;
}

const stopping = new AbortController();
setMaxListeners(0, stopping.signal); // one signal ends every simulated agent's held request
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let cpuMark = process.cpuUsage();
let wallMark = performance.now();
let errors = 0;
let answers = 0;
let firstError: string | undefined;
let loops: Array<Promise<void>> = [];

async function agentLoop(agent: FleetAgent, waitS: number, startAfterMs: number): Promise<void> {
  await sleep(startAfterMs);
  const client = new ApiClient({ serverUrl: agent.serverUrl, agentId: agent.id, apiKey: agent.key, timeoutMs: 30_000 });
  while (!stopping.signal.aborted) {
    try {
      const items = await client.work({ waitSeconds: waitS, signal: stopping.signal });
      const at = performance.timeOrigin + performance.now();
      answers += 1;
      for (const item of items) process.send!({ type: 'delivered', jobId: item.id, at });
    } catch (err) {
      if (stopping.signal.aborted) break;
      errors += 1;
      firstError ??= (err as Error).message;
      await sleep(1000);
    }
  }
  client.close();
}

process.on('message', (command: FleetCommand) => {
  if (command.type === 'start') {
    // Started over rampMs: 10,000 connections at once would overflow the listen backlog (SYN retries of 1 s, 3 s).
    loops = command.agents.map((agent, i) => agentLoop(agent, command.waitS, (i * command.rampMs) / command.agents.length));
  } else if (command.type === 'stats') {
    const cpu = process.cpuUsage(cpuMark);
    const wallMs = performance.now() - wallMark;
    const stats: FleetStats = {
      type: 'stats', cpu_pct: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      event_loop_delay_ms: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
      errors, first_error: firstError ?? null, answers, rss_mib: Math.round(process.memoryUsage.rss() / 1024 ** 2),
    };
    process.send!(stats);
    cpuMark = process.cpuUsage();
    wallMark = performance.now();
    loopDelay.reset();
  } else if (command.type === 'stop') {
    stopping.abort();
    void Promise.all(loops).then(() => {
      process.send!({ type: 'stopped' });
      process.exit(0);
    });
  }
});
process.on('disconnect', () => process.exit(0));
