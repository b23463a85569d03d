import { ChildProcess, fork } from 'node:child_process';
import { resolve } from 'node:path';
import type { LoadResult } from './http-load';

/** One request of the cycle a load run goes through; bodies are base64 (OCSP requests are binary). */
export interface LoadSpec {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** POST a fresh OCSPRequest with a new nonce for this CertID (DER, base64) each time. */
  ocspNonceCertId?: string;
}

export interface LoadJob {
  host: string;
  port: number;
  headers: Record<string, string>;
  requests: LoadSpec[];
  connections: number;
  durationMs: number;
  /** false: one TCP connection per request (`Connection: close`). */
  keepAlive: boolean;
  /** Keep the body of every n-th request (0: none), at most maxSamples, for the bench to check. */
  sampleEvery: number;
  maxSamples: number;
  timeoutMs?: number;
}

export interface LoadRunResult {
  requests: number;
  /** 2xx answers. */
  ok: number;
  errors: number;
  non2xx: number;
  /** The generator's clock: first request sent → last answer read. */
  client_elapsed_s: number;
  /** ok / client_elapsed_s. */
  req_per_s: number;
  latency_ms: LoadResult['latencyMs'];
  /** The generator's own CPU (100 = one core) and event-loop delay (how late its timers ran) during the run. */
  generator: { cpu_pct: number; event_loop_delay_ms: { p50: number; p99: number; max: number } };
  /** The generator used GENERATOR_BOUND_PCT or more of a core: the rate is its limit as much as the server's. */
  generator_bound: boolean;
  /** Sampled answers (base64), with the request body sent when there was one (a POST's fresh nonce). */
  samples: Array<{ request: number; body: string; sent?: string }>;
  first_error?: string;
}

export const GENERATOR_BOUND_PCT = 90;

/**
 * A load generator in its own Node process (bench/lib/load-worker.ts), kept for the whole bench so that every
 * contender is driven by the same warmed-up client. Runs are sequential.
 */
export class LoadGenerator {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly child: ChildProcess) {}

  static start(): LoadGenerator {
    // Relative to dist/bench/lib.
    const child = fork(resolve(__dirname, 'load-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new LoadGenerator(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  run(job: LoadJob): Promise<LoadRunResult> {
    const next = this.queue.then(() => new Promise<LoadRunResult>((done, fail) => {
      const onExit = (code: number | null) => fail(new Error(`the load generator exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (message: { ok: boolean; result?: LoadRunResult; error?: string }) => {
        this.child.off('exit', onExit);
        if (message.ok) done(message.result!);
        else fail(new Error(`load generator: ${message.error}`));
      });
      this.child.send(job);
    }));
    this.queue = next.catch(() => undefined);
    return next;
  }

  stop(): void {
    if (this.child.connected) this.child.disconnect();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

/** The row of a load run in a results file, without the sampled bodies. */
export function withoutSamples(result: LoadRunResult): Omit<LoadRunResult, 'samples'> & { samples_checked: number } {
  const { samples, ...rest } = result;
  return { ...rest, samples_checked: samples.length };
}
