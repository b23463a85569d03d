import { readFileSync } from 'node:fs';
import { machineTicks } from './proc-ticks';

/**
 * Where the CPU went during a scenario, from /proc (Linux; elsewhere the figures are null): the whole machine,
 * the api process and this load generator. Percentages are top-style: 100 = one core fully busy.
 * What the machine spent beyond api + loader is PostgreSQL and anything else running; a large share of the
 * latter means the figures are disturbed.
 */
export interface CpuSnapshot {
  at: bigint;
  machineTicks: { busy: number; total: number } | undefined;
  apiTicks: number | undefined;
  loader: NodeJS.CpuUsage;
}

export interface CpuUse {
  machine_busy_pct: number | null;
  api_pct: number | null;
  loader_pct: number;
  api_cpu_ms_per_request: number | null;
}

/** Kernel clock ticks per second (USER_HZ); 100 on every mainstream Linux build. */
const TICKS_PER_S = 100;

export function cpuSnapshot(apiPid: number | undefined): CpuSnapshot {
  return { at: process.hrtime.bigint(), machineTicks: machineTicks(), apiTicks: apiPid ? processTicks(apiPid) : undefined, loader: process.cpuUsage() };
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot, requests: number, cores: number): CpuUse {
  const wallS = Number(after.at - before.at) / 1e9;
  const loaderMs = (after.loader.user - before.loader.user + after.loader.system - before.loader.system) / 1000;
  const apiMs = before.apiTicks !== undefined && after.apiTicks !== undefined ? ((after.apiTicks - before.apiTicks) * 1000) / TICKS_PER_S : null;
  let machine: number | null = null;
  if (before.machineTicks && after.machineTicks) {
    const total = after.machineTicks.total - before.machineTicks.total;
    machine = total > 0 ? ((after.machineTicks.busy - before.machineTicks.busy) / total) * 100 * cores : null;
  }
  return {
    machine_busy_pct: machine === null ? null : Math.round(machine),
    api_pct: apiMs === null ? null : Math.round((apiMs / (wallS * 1000)) * 100),
    loader_pct: Math.round((loaderMs / (wallS * 1000)) * 100),
    api_cpu_ms_per_request: apiMs === null || requests === 0 ? null : Math.round((apiMs / requests) * 100) / 100,
  };
}

/** utime + stime of a process, in clock ticks. */
function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}
