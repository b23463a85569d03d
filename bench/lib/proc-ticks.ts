import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of named processes from /proc (Linux; elsewhere every figure is undefined), for telling where the
 * CPU of a pipeline goes: per process, or summed over every process with a given command name
 * (PostgreSQL runs one backend per connection). Ticks are USER_HZ (100 per second on every mainstream build).
 */
export const TICKS_PER_S = 100;

/** utime + stime of a process (all its threads), in clock ticks; undefined when it is gone. */
export function processTicks(pid: number): number | undefined {
  const stat = readStat(pid);
  return stat ? stat.ticks : undefined;
}

/** utime + stime of one thread of a process (the main thread's id is the pid), in clock ticks. */
export function threadTicks(pid: number, tid: number): number | undefined {
  return readStat(pid, tid)?.ticks;
}

/** Pids whose command name (comm, at most 15 characters) is exactly `comm`. */
export function pidsByComm(comm: string): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat?.comm === comm) pids.push(Number(entry));
  }
  return pids;
}

/** Summed ticks of a set of pids, per pid, so that a later reading can be compared pid by pid. */
export function ticksOf(pids: number[]): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const pid of pids) {
    const t = processTicks(pid);
    if (t !== undefined) ticks.set(pid, t);
  }
  return ticks;
}

/**
 * CPU ticks spent between two readings by the pids of `after`; a pid that appeared in between counts from
 * zero (its whole life is inside the interval), a pid that vanished is not counted.
 */
export function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, t] of after) sum += t - (before.get(pid) ?? 0);
  return sum;
}

/** Busy and total ticks of all cores since boot (user … steal). */
export function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

function readStat(pid: number, tid?: number): { comm: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis are fixed.
    const rest = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(open + 1, close), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}
