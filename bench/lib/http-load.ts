import { Agent, IncomingHttpHeaders, request } from 'node:http';

/**
 * A small closed-loop HTTP load generator: `connections` workers, each sending one request at a time over
 * its own keep-alive socket, for a fixed duration. Every completed request's latency is recorded
 * (process.hrtime.bigint, request start to last body byte), so the percentiles are exact, not estimated.
 */
export interface LoadOptions {
  baseUrl: string;
  path: string;
  headers: Record<string, string>;
  connections: number;
  durationMs: number;
  /** Per-request timeout; a timed-out request counts as an error. */
  timeoutMs?: number;
  /** Stops the load early (Ctrl-C): no new requests, open sockets closed. */
  signal?: AbortSignal;
}

export interface LoadResult {
  requests: number;
  errors: number;
  non2xx: number;
  elapsedS: number;
  reqPerS: number;
  latencyMs: { min: number; mean: number; p50: number; p95: number; p99: number; max: number };
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Tally {
  latencies: number[];
  errors: number;
  non2xx: number;
  firstError?: string;
}

/** Runs the load and returns its figures. Requests started before the deadline are all awaited and counted. */
export async function runLoad(options: LoadOptions): Promise<LoadResult & { firstError?: string }> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const abort = () => agent.destroy();
  options.signal?.addEventListener('abort', abort, { once: true });
  const tally: Tally = { latencies: [], errors: 0, non2xx: 0 };
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(options.durationMs) * 1_000_000n;
  try {
    const workers = Array.from({ length: options.connections }, () => worker(options, agent, deadline, tally));
    await Promise.all(workers);
  } finally {
    options.signal?.removeEventListener('abort', abort);
    agent.destroy();
  }
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const requests = tally.latencies.length + tally.errors;
  return {
    requests,
    errors: tally.errors,
    non2xx: tally.non2xx,
    elapsedS: round(elapsedS, 3),
    reqPerS: round(tally.latencies.length / elapsedS, 1),
    latencyMs: summarize(tally.latencies),
    ...(tally.firstError ? { firstError: tally.firstError } : {}),
  };
}

async function worker(options: LoadOptions, agent: Agent, deadline: bigint, tally: Tally): Promise<void> {
  while (!options.signal?.aborted && process.hrtime.bigint() < deadline) {
    const start = process.hrtime.bigint();
    try {
      const { status } = await httpGet(options.baseUrl, options.path, options.headers, agent, options.timeoutMs);
      tally.latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (status < 200 || status > 299) {
        tally.non2xx++;
        tally.firstError ??= `HTTP ${status} for ${options.path}`;
      }
    } catch (err) {
      tally.errors++;
      tally.firstError ??= err instanceof Error ? err.message : String(err);
    }
  }
}

/** One GET, body read in full. Uses the given agent, or a fresh non-keep-alive one. */
export function httpGet(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  agent?: Agent,
  timeoutMs = 10_000,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, baseUrl), { method: 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Exact order statistics over every recorded latency (nearest-rank percentiles). */
export function summarize(latencies: number[]): LoadResult['latencyMs'] {
  if (latencies.length === 0) return { min: NaN, mean: NaN, p50: NaN, p95: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(latencies).sort();
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    min: round(sorted[0], 2),
    mean: round(sum / sorted.length, 2),
    p50: round(percentile(sorted, 50), 2),
    p95: round(percentile(sorted, 95), 2),
    p99: round(percentile(sorted, 99), 2),
    max: round(sorted[sorted.length - 1], 2),
  };
}

/** Nearest-rank percentile of an ascending array: the smallest value with at least p% of values at or below it. */
export function percentile(sorted: Float64Array, p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
