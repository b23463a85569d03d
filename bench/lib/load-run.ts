/**
 * The load itself (closed loop over node:http), run in the generator's process by load-worker.ts.
 * Keep-alive: one socket per worker, reused. Per connection: a fresh TCP connection per request
 * (`Connection: close`), as TLS clients fetch OCSP. Rate by this process's clock: completed 2xx answers /
 * (first request sent → last answer read), with this process's CPU and event-loop delay beside it.
 */
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ocspRequest } from './ocsp-request';
import { round, summarize } from './http-load';
import { GENERATOR_BOUND_PCT, LoadJob, LoadRunResult, LoadSpec } from './load-generator';

/** The delay monitor's timer period; Node records the whole interval between its ticks, so this much is subtracted. */
const DELAY_RESOLUTION_MS = 5;
const lateBy = (ns: number) => round(Math.max(0, ns / 1e6 - DELAY_RESOLUTION_MS), 2);

function bodyOf(spec: LoadSpec): Buffer | undefined {
  if (spec.ocspNonceCertId) return ocspRequest(Buffer.from(spec.ocspNonceCertId, 'base64'), true);
  return spec.body === undefined ? undefined : Buffer.from(spec.body, 'base64');
}

function send(job: LoadJob, spec: LoadSpec, agent: Agent): Promise<{ status: number; body: Buffer; sent?: Buffer }> {
  const body = bodyOf(spec);
  const headers: Record<string, string> = { ...job.headers, ...(spec.headers ?? {}) };
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = request({ host: job.host, port: job.port, method: spec.method, path: spec.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ...(body ? { sent: body } : {}) }));
      res.on('error', reject);
    });
    req.setTimeout(job.timeoutMs ?? 10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function runLoadJob(job: LoadJob): Promise<LoadRunResult> {
  const agent = new Agent({ keepAlive: job.keepAlive, maxSockets: job.connections });
  const latencies: number[] = [];
  const samples: LoadRunResult['samples'] = [];
  let errors = 0;
  let non2xx = 0;
  let firstError: string | undefined;
  let next = 0;
  let firstSent: bigint | undefined;
  let lastAnswer: bigint | undefined;
  const deadline = process.hrtime.bigint() + BigInt(job.durationMs) * 1_000_000n;
  const delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  const cpuBefore = process.cpuUsage();
  delay.enable();
  await Promise.all(Array.from({ length: job.connections }, async () => {
    while (process.hrtime.bigint() < deadline) {
      const index = next++;
      const spec = job.requests[index % job.requests.length]!;
      const start = process.hrtime.bigint();
      firstSent ??= start;
      try {
        const res = await send(job, spec, agent);
        const end = process.hrtime.bigint();
        lastAnswer = end;
        latencies.push(Number(end - start) / 1e6);
        if (res.status < 200 || res.status > 299) {
          non2xx++;
          firstError ??= `HTTP ${res.status} for ${spec.method} ${spec.path.slice(0, 120)}: ${res.body.toString('utf8', 0, 200)}`;
        } else if (job.sampleEvery > 0 && index % job.sampleEvery === 0 && samples.length < job.maxSamples) {
          samples.push({ request: index % job.requests.length, body: res.body.toString('base64'), ...(res.sent ? { sent: res.sent.toString('base64') } : {}) });
        }
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  }));
  delay.disable();
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  const elapsedS = firstSent !== undefined && lastAnswer !== undefined ? Number(lastAnswer - firstSent) / 1e9 : 0;
  const ok = latencies.length - non2xx;
  const generatorCpuPct = elapsedS > 0 ? Math.round(((cpu.user + cpu.system) / 1000 / (elapsedS * 1000)) * 100) : 0;
  return {
    requests: latencies.length + errors,
    ok,
    errors,
    non2xx,
    client_elapsed_s: round(elapsedS, 3),
    req_per_s: elapsedS > 0 ? round(ok / elapsedS, 1) : 0,
    latency_ms: summarize(latencies),
    generator: {
      cpu_pct: generatorCpuPct,
      event_loop_delay_ms: { p50: lateBy(delay.percentile(50)), p99: lateBy(delay.percentile(99)), max: lateBy(delay.max) },
    },
    generator_bound: generatorCpuPct >= GENERATOR_BOUND_PCT,
    samples,
    ...(firstError ? { first_error: firstError } : {}),
  };
}

