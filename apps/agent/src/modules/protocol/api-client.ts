import { Agent as HttpAgent, IncomingMessage, request as httpRequest, RequestOptions } from 'node:http';
import type {
  AgentCsrAnswer, AgentCsrSubmission, AgentDiscoveryReport, AgentHeartbeat, IssuedCertificate, JobStatusReport, WorkItem,
} from '@certctl/contracts';

/** What this agent's heartbeat always sends (every field of the protocol's heartbeat). */
export type HostReport = Required<AgentHeartbeat>;
/** What this agent's discovery always sends. */
export type DiscoveryReport = Required<AgentDiscoveryReport>;

/** The server answered with an error status; `code` and `message` are from its JSON error body when it sent one. */
export class ApiResponseError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(`HTTP ${status} ${code}: ${message}`);
    this.name = 'ApiResponseError';
  }

  /** Worth asking again later: the server (or a proxy in front of it) had a problem, or asked us to slow down. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/** The server no longer accepts this agent (key revoked or unknown, key of another agent, agent retired): stop. */
export class AgentRejectedError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'AgentRejectedError';
  }
}

/** The connection failed or the answer was not the JSON the protocol promises (a proxy's HTML page, a cut body). */
export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}

export interface ApiClientOptions {
  serverUrl: string;
  agentId: string;
  apiKey: string;
  /** PEM bundle of extra CAs trusted for an https server URL (a private CA). */
  caPem?: string;
  timeoutMs?: number;
}

/**
 * How long an idle keep-alive connection is kept for the next call. Below the server's own idle timeout (Node's
 * default keepAliveTimeout is 5 s; a shorter `Keep-Alive: timeout=N` the server announces lowers it to N - 1 s):
 * without a client-side limit Node ignores that announcement, and a call sent on a connection the server is closing
 * at that moment fails with ECONNRESET or "socket hang up" (the fleet's poll and heartbeat intervals make such
 * gaps common).
 */
export const IDLE_SOCKET_TIMEOUT_MS = 4_000;

/**
 * The agent protocol over HTTP(S): keep-alive connections, JSON in and out, errors sorted into "stop"
 * (AgentRejectedError), "the server said no" (ApiResponseError) and "try again" (TransportError, retryable statuses).
 * The API key travels only in the Authorization header and is never part of an error or a log line.
 */
export class ApiClient {
  private readonly base: URL;
  private readonly timeoutMs: number;
  /** node:https (and TLS) is loaded only for an https server: a loopback http agent stays smaller. */
  private transport: Promise<{ agent: HttpAgent; request: typeof httpRequest }> | undefined;

  constructor(private readonly options: ApiClientOptions) {
    this.base = new URL(options.serverUrl.replace(/\/+$/, '') + '/');
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private connection(): Promise<{ agent: HttpAgent; request: typeof httpRequest }> {
    const pool = { keepAlive: true, maxSockets: 4, timeout: IDLE_SOCKET_TIMEOUT_MS };
    this.transport ??= this.base.protocol === 'https:'
      ? import('node:https').then((https) => ({
          agent: new https.Agent({ ...pool, ca: this.options.caPem }),
          request: https.request as unknown as typeof httpRequest,
        }))
      : Promise.resolve({ agent: new HttpAgent(pool), request: httpRequest });
    return this.transport;
  }

  private agentPath(suffix: string): string {
    return `api/v1/agents/${encodeURIComponent(this.options.agentId)}${suffix}`;
  }

  heartbeat(host: HostReport): Promise<unknown> {
    return this.call('POST', this.agentPath('/heartbeat'), host);
  }

  /**
   * `resume`: also hand out this agent's Running deployments (it has just started, or lost the last answer).
   * `waitSeconds` (long-poll): with no work now, the server holds the request that long and answers as soon as work appears.
   */
  async work(options: { resume?: boolean; waitSeconds?: number; signal?: AbortSignal } = {}): Promise<WorkItem[]> {
    const query = new URLSearchParams();
    if (options.resume) query.set('resume', 'true');
    if (options.waitSeconds) query.set('wait', String(options.waitSeconds));
    const suffix = query.size ? `/work?${query.toString()}` : '/work';
    // A held request's silence is the server waiting, not failing: its timeout starts after the wait.
    const timeoutMs = this.timeoutMs + (options.waitSeconds ?? 0) * 1000;
    const body = await this.call<{ jobs?: unknown }>('GET', this.agentPath(suffix), undefined, timeoutMs, options.signal);
    if (!body || !Array.isArray(body.jobs)) throw new TransportError('the work answer has no "jobs" list');
    return body.jobs as WorkItem[];
  }

  submitCsr(certificateId: string, csrPem: string): Promise<AgentCsrAnswer> {
    return this.call('POST', this.agentPath('/csr'), { certificate_id: certificateId, csr_pem: csrPem } satisfies AgentCsrSubmission);
  }

  async certificate(certificateId: string): Promise<IssuedCertificate> {
    const body = await this.call<IssuedCertificate>('GET', this.agentPath(`/certificates/${encodeURIComponent(certificateId)}`));
    if (!body || typeof body.certificate_pem !== 'string') throw new TransportError('the certificate answer has no certificate_pem');
    return body;
  }

  reportStatus(jobId: string, report: JobStatusReport): Promise<unknown> {
    return this.call('POST', this.agentPath(`/jobs/${encodeURIComponent(jobId)}/status`), report);
  }

  reportDiscoveries(report: DiscoveryReport): Promise<unknown> {
    return this.call('POST', this.agentPath('/discoveries'), report);
  }

  close(): void {
    void this.transport?.then(({ agent }) => agent.destroy());
  }

  private async call<T = unknown>(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs, signal?: AbortSignal): Promise<T> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const { agent, request } = await this.connection();
    return new Promise<T>((resolve, reject) => {
      const options: RequestOptions = {
        method,
        agent,
        timeout: timeoutMs,
        signal,
        headers: {
          Authorization: `Bearer ${this.options.apiKey}`,
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
        },
      };
      const req = request(url, options, (res) => {
        readBody(res).then((text) => {
          try {
            resolve(this.interpret<T>(res.statusCode ?? 0, text));
          } catch (err) {
            reject(err);
          }
        }, (err: Error) => reject(new TransportError(`${method} ${url.pathname}: ${err.message}`)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new TransportError(`${method} ${url.pathname}: ${err.message}`)));
      req.end(payload);
    });
  }

  private interpret<T>(status: number, text: string): T {
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // An HTML error page from a proxy, or a body cut short: the server's state is unknown, so ask again later.
      if (status >= 200 && status < 300) throw new TransportError(`HTTP ${status} with a body that is not JSON`);
      json = undefined;
    }
    if (status >= 200 && status < 300) return json as T;
    const error = (json ?? {}) as { code?: string; error?: string; message?: string };
    const message = typeof error.message === 'string' ? error.message : `HTTP ${status}`;
    const code = error.code ?? error.error ?? 'HTTP_ERROR';
    if (status === 401) {
      throw new AgentRejectedError(status, `the server refused this agent's API key (${message}): it was revoked, has expired or is not this server's; `
        + 'register the agent again (POST /api/v1/agents) or set the right key, then restart the agent');
    }
    if (status === 403) throw new AgentRejectedError(status, `the server does not let this key act as agent ${this.options.agentId} (${message})`);
    if (status === 410) throw new AgentRejectedError(status, `agent ${this.options.agentId} is retired on the server (${message}); nothing more to do`);
    throw new ApiResponseError(status, String(code), message);
  }
}

/** Answers are small JSON documents; anything beyond 8 MiB is not the protocol talking. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('connection closed mid-answer')));
  });
}
