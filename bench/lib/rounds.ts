import { loadavg } from 'node:os';
import { round } from './http-load';

/**
 * Interleaved rounds: every contender (ours and its peers) runs once per round, A B A B …, with the order rotated
 * each round, so that drift on a shared machine (another job starting, thermal limits) hits every contender alike.
 * Each round records the load average (1, 5, 15 min) at its start and end; ratios are taken within a round, then
 * their median, so a noisy round skews one ratio rather than one side of every ratio.
 */
export interface Contender<R> {
  name: string;
  run: (round: number) => Promise<R>;
}

export interface RoundRecord<R> {
  round: number;
  order: string[];
  loadavg_start: number[];
  loadavg_end: number[];
  results: Record<string, R>;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface RatioSummary extends Spread {
  of: string;
  to: string;
  per_round: number[];
}

/** At least three rounds (BENCH_ROUNDS, default 3): fewer cannot show a median apart from its extremes. */
export function roundsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BENCH_ROUNDS;
  if (raw === undefined || raw === '') return 3;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 3) throw new Error(`BENCH_ROUNDS must be an integer >= 3, got "${raw}"`);
  return value;
}

/** BENCH_QUICK=1: a small dataset and short rounds, to prove a bench works end to end; its figures are not results. */
export function quickMode(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.BENCH_QUICK === '1';
}

export function loadAverage(): number[] {
  return loadavg().map((v) => round(v, 2));
}

export async function interleave<R>(
  contenders: Array<Contender<R>>,
  rounds: number,
  options: { signal?: AbortSignal; progress?: (message: string) => void } = {},
): Promise<Array<RoundRecord<R>>> {
  const records: Array<RoundRecord<R>> = [];
  for (let i = 0; i < rounds && !options.signal?.aborted; i++) {
    const shift = i % contenders.length;
    const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
    const record: RoundRecord<R> = { round: i + 1, order: order.map((c) => c.name), loadavg_start: loadAverage(), loadavg_end: [], results: {} };
    options.progress?.(`round ${i + 1}/${rounds}: ${record.order.join(' → ')} (load ${record.loadavg_start.join(' ')})`);
    for (const contender of order) {
      if (options.signal?.aborted) break;
      record.results[contender.name] = await contender.run(i + 1);
    }
    record.loadavg_end = loadAverage();
    records.push(record);
  }
  return records;
}

export function spread(values: number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median: round(median, 3), min: round(sorted[0]!, 3), max: round(sorted[sorted.length - 1]!, 3), n: sorted.length };
}

/** Median [min–max] n of one figure of every contender over the rounds. */
export function spreadOf<R>(records: Array<RoundRecord<R>>, figure: (result: R) => number): Record<string, Spread> {
  const names = [...new Set(records.flatMap((r) => Object.keys(r.results)))];
  return Object.fromEntries(names.map((name) => [name, spread(records.filter((r) => name in r.results).map((r) => figure(r.results[name]!)))]));
}

/** `of` / `to` within each round (both ran in it), and the median of those ratios. */
export function ratioOf<R>(records: Array<RoundRecord<R>>, figure: (result: R) => number, of: string, to: string): RatioSummary {
  const perRound = records
    .filter((r) => of in r.results && to in r.results)
    .map((r) => round(figure(r.results[of]!) / figure(r.results[to]!), 3));
  return { of, to, per_round: perRound, ...spread(perRound) };
}

export function formatSpread(s: Spread, digits = 1): string {
  return `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}–${s.max.toFixed(digits)}] n=${s.n}`;
}

export function formatRatio(r: RatioSummary): string {
  return `${r.of} / ${r.to} = ${formatSpread(r, 2)}`;
}
