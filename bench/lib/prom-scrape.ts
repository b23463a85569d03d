import { httpGet } from './http-load';

/** One sample of a Prometheus text exposition: metric name, labels, value. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** GET {baseUrl}/metrics and parse it; an unreachable endpoint gives an empty list (the figures are then null). */
export async function scrape(baseUrl: string): Promise<PromSample[]> {
  try {
    const res = await httpGet(baseUrl, '/metrics', {}, undefined, 5_000);
    return res.status === 200 ? parseExposition(res.body) : [];
  } catch {
    return [];
  }
}

export function parseExposition(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[4]) });
  }
  return samples;
}

/** The value of the first sample with this name whose labels include `labels`. */
export function valueOf(samples: PromSample[], name: string, labels: Record<string, string> = {}): number | null {
  const hit = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hit ? hit.value : null;
}

export interface HistogramDelta {
  count: number;
  mean_ms: number | null;
  /** Upper bound of the bucket holding the percentile (bucket resolution), in ms; null when beyond the last bound. */
  p50_le_ms: number | null;
  p99_le_ms: number | null;
}

/** A histogram's growth between two scrapes (seconds-based histogram; reported in ms). */
export function histogramDelta(before: PromSample[], after: PromSample[], name: string, labels: Record<string, string>): HistogramDelta {
  const count = (valueOf(after, `${name}_count`, labels) ?? 0) - (valueOf(before, `${name}_count`, labels) ?? 0);
  const sum = (valueOf(after, `${name}_sum`, labels) ?? 0) - (valueOf(before, `${name}_sum`, labels) ?? 0);
  const buckets = after
    .filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), n: s.value - (valueOf(before, `${name}_bucket`, { ...labels, le: s.labels.le! }) ?? 0) }))
    .sort((a, b) => a.le - b.le);
  const at = (q: number): number | null => {
    const bucket = buckets.find((b) => b.n >= q * count);
    return bucket && Number.isFinite(bucket.le) ? bucket.le * 1000 : null;
  };
  return { count, mean_ms: count ? Math.round((sum / count) * 100_000) / 100 : null, p50_le_ms: count ? at(0.5) : null, p99_le_ms: count ? at(0.99) : null };
}

/** prom-client's event-loop delay gauges (reset at each scrape, so they cover the time since the previous one), in ms. */
export function eventLoopLag(samples: PromSample[]): { mean_ms: number | null; p50_ms: number | null; p99_ms: number | null; max_ms: number | null } {
  const ms = (name: string) => {
    const v = valueOf(samples, name);
    return v === null ? null : Math.round(v * 100_000) / 100;
  };
  return {
    mean_ms: ms('nodejs_eventloop_lag_mean_seconds'),
    p50_ms: ms('nodejs_eventloop_lag_p50_seconds'),
    p99_ms: ms('nodejs_eventloop_lag_p99_seconds'),
    max_ms: ms('nodejs_eventloop_lag_max_seconds'),
  };
}
