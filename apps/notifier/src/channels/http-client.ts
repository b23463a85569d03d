import http, { IncomingMessage } from 'node:http';
import https from 'node:https';
import { checkOutboundUrl, guardAgent, OutboundPolicy, OutboundUrlError, Resolver } from '@certctl/config';
import { DeliveryError, isRetryableStatus } from './delivery-errors';

/** The most of a response body kept for an error message. */
const RESPONSE_SNIPPET_BYTES = 300;

export interface PostResult {
  status: number;
  body: string;
}

/**
 * POSTs JSON to a webhook-style endpoint over pooled keep-alive connections, with the outbound URL policy,
 * a timeout, no redirects (a redirect could lead anywhere) and errors classified for retry. Error messages
 * name the host only: webhook URLs often carry their secret in the path.
 */
export class HttpPoster {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  /** `policy` left out: the process's outbound policy (set at boot from the config) at each call. */
  constructor(private readonly options: { timeoutMs: number; policy?: OutboundPolicy; maxSockets?: number; resolver?: Resolver }) {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    // Names are resolved and every address checked when a connection is made (DNS rebinding), literals too.
    this.httpAgent = guardAgent(new http.Agent(agentOptions), options.policy, options.resolver);
    this.httpsAgent = guardAgent(new https.Agent(agentOptions), options.policy, options.resolver);
  }

  async postJson(rawUrl: string, payload: unknown, headers: Record<string, string> = {}): Promise<PostResult> {
    let url: URL;
    try {
      url = checkOutboundUrl(rawUrl, this.options.policy);
    } catch (err) {
      throw DeliveryError.permanent(`refused URL: ${(err as Error).message}`);
    }
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const result = await this.send(url, body, headers);
    if (result.status >= 200 && result.status < 300) return result;
    const detail = `HTTP ${result.status} from ${url.host}${result.body ? `: ${result.body.slice(0, RESPONSE_SNIPPET_BYTES)}` : ''}`;
    throw isRetryableStatus(result.status) ? DeliveryError.transient(detail) : DeliveryError.permanent(detail);
  }

  private send(url: URL, body: string, headers: Record<string, string>): Promise<PostResult> {
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<PostResult>((resolve, reject) => {
      const req = client.request(url, {
        method: 'POST',
        agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'certctl-notifier', ...headers },
        timeout: this.options.timeoutMs,
      }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < 64 * 1024) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(DeliveryError.transient(`reading the answer of ${url.host} failed: ${err.message}`)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)));
      req.on('error', (err: Error & { code?: string }) => {
        if (err instanceof OutboundUrlError) return reject(DeliveryError.permanent(`refused URL: ${err.message}`));
        reject(DeliveryError.transient(`${url.host}: ${err.code ? `${err.code} ` : ''}${err.message}`));
      });
      req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
