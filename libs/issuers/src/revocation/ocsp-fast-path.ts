import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { Logger as Pino } from 'pino';
import { HttpMetrics, PINO, requestIdOf } from '@certctl/observability';
import { OcspAnswer, OcspService } from './ocsp.service';

const PREFIX = '/.well-known/pki/ocsp/';
/** The route patterns Express would report, so the http histogram has one series per route either way. */
const GET_ROUTE = '/.well-known/pki/ocsp/:issuerId/*encoded';
const POST_ROUTE = '/.well-known/pki/ocsp/:issuerId';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Serves the OCSP requests of the fleet straight off node:http, ahead of Express and Nest's routing: an OCSP
 * answer is a cache lookup, and the framework's per-request work would cost more than the answer itself. It
 * answers the GET forms and well-formed POSTs (`application/ocsp-request` with a Content-Length within the
 * limit) through the same OcspService as PkiController, with the same counters, rate limit, request id and http
 * histogram; anything else (a wrong content type, an oversized or chunked body, other methods and paths) goes on
 * to Express, which answers it as before. Requests are logged at debug only: this is fleet traffic, counted by
 * certctl_ocsp_counter_total and http_request_duration_seconds rather than logged one line each.
 */
export function installOcspFastPath(app: INestApplication): void {
  const server = app.getHttpServer() as Server;
  const ocsp = app.get(OcspService);
  const metrics = app.get(HttpMetrics);
  const logger = app.get<Pino>(PINO);
  const trust = trustedProxyTest(app);
  const framework = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const answered = req.url?.startsWith(PREFIX) ? serve(req, res) : undefined;
    if (answered) return;
    for (const listener of framework) listener.call(server, req, res);
  });

  /** The pending answer when this request is ours, undefined to hand it to Express. */
  function serve(req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
    const path = req.url!.slice(PREFIX.length).split('?')[0]!;
    const slash = path.indexOf('/');
    const client = clientAddressOf(req, trust);
    let pending: Promise<OcspAnswer>;
    let route: string;
    if (req.method === 'GET' && slash > 0 && slash < path.length - 1) {
      route = GET_ROUTE;
      const issuerId = decodeSegment(path.slice(0, slash));
      if (issuerId === undefined) return undefined;
      pending = ocsp.answerGet(issuerId, path.slice(slash + 1), client);
    } else if (req.method === 'POST' && slash === -1 && path.length > 0 && acceptablePost(req, ocsp.maxRequestBytes)) {
      route = POST_ROUTE;
      const issuerId = decodeSegment(path);
      if (issuerId === undefined) return undefined;
      pending = readBody(req, ocsp.bodyTimeoutMs).then((request) => ocsp.answer({ issuerId, method: 'POST', request, client }));
    } else {
      return undefined;
    }
    const stop = metrics.duration.startTimer();
    res.setHeader('x-request-id', requestIdOf(req));
    return pending
      .catch((err: unknown) => {
        // Redis or the database away: say "try later" in OCSP's own terms rather than hang or drop the client.
        logger.error({ err: (err as Error).message, url: req.url }, 'OCSP request failed');
        return ocsp.error('tryLater', 503);
      })
      .then((answer) => {
        if (req.socket.destroyed) return; // a body that never came: the connection is gone
        res.statusCode = answer.httpStatus;
        for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
        res.setHeader('Content-Length', answer.body.length);
        res.end(answer.body);
        stop({ method: req.method, route, status_code: String(answer.httpStatus) });
        if (logger.isLevelEnabled('debug')) logger.debug({ method: req.method, url: req.url, statusCode: answer.httpStatus }, 'ocsp request');
      });
  }
}

/** RFC 6960's request media type, which both the fast path and PkiController require of a POST. */
export function isOcspRequestType(req: IncomingMessage): boolean {
  return String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'application/ocsp-request';
}

function acceptablePost(req: IncomingMessage, limit: number): boolean {
  const length = Number(req.headers['content-length']);
  return isOcspRequestType(req) && req.headers['content-length'] !== undefined && Number.isInteger(length) && length <= limit;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * The body, whose declared Content-Length was checked against the limit (Node holds a body to it); a body not
 * complete within `timeoutMs` closes the connection (a stalled client holds nothing for long).
 */
export function readBody(req: IncomingMessage, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      req.socket.destroy();
      reject(new Error(`request body not received within ${timeoutMs} ms`));
    }, timeoutMs).unref();
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('close', () => clearTimeout(timer));
  });
}

/** Whether a hop may speak for the client: Express's compiled `trust proxy` (CERTCTL_TRUSTED_PROXIES in the api), else none. */
export type TrustProxy = (address: string, hop: number) => boolean;

function trustedProxyTest(app: INestApplication): TrustProxy {
  const instance = app.getHttpAdapter?.()?.getInstance?.() as { get?(name: string): unknown } | undefined;
  const compiled = instance?.get?.('trust proxy fn');
  return typeof compiled === 'function' ? (compiled as TrustProxy) : () => false;
}

/**
 * The client's address as Express's req.ip gives it, for requests answered before Express: the socket's peer,
 * unless that peer is a trusted proxy, then X-Forwarded-For read from the right, skipping trusted hops. So the
 * OCSP rate limit counts each client behind a trusted proxy, not the proxy.
 */
export function clientAddressOf(req: Pick<IncomingMessage, 'headers' | 'socket'>, trust: TrustProxy): string {
  let client = req.socket.remoteAddress ?? 'unknown';
  const header = req.headers['x-forwarded-for'];
  if (!header) return client;
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',').map((h) => h.trim()).filter(Boolean).reverse();
  for (let i = 0; i < hops.length; i++) {
    if (!trust(client, i)) return client;
    client = hops[i]!;
  }
  return client;
}
