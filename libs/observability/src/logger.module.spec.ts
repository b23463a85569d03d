import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { createPino, httpLoggerMiddleware, PinoNestLogger, redactedUrl } from './logger.module';

function sink(): { stream: Writable; records: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('PinoNestLogger (Nest LoggerService on pino)', () => {
  afterEach(() => Logger.overrideLogger(false as never));

  it('turns ({fields}, message) and (message, stack, context) into one JSON record each, redacting secrets', () => {
    const out = sink();
    const logger = new PinoNestLogger(createPino({ level: 'info', format: 'json', name: 'api', destination: out.stream }));
    Logger.overrideLogger(logger);
    new Logger('Deploy').warn({ jobId: 'j-1', config: { password: 'hunter2', private_key: '-----BEGIN' } }, 'deploy failed');
    logger.error('Unable to connect', 'Error: boom\n    at x (y.js:1:1)', 'TypeOrmModule');
    new Logger('Quiet').debug('not at info');
    const [first, second, ...rest] = out.records();
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ level: 40, name: 'api', context: 'Deploy', jobId: 'j-1', msg: 'deploy failed' });
    expect(first!.config).toEqual({ password: '[REDACTED]', private_key: '[REDACTED]' });
    expect(second).toMatchObject({ level: 50, context: 'TypeOrmModule', msg: 'Unable to connect', stack: 'Error: boom\n    at x (y.js:1:1)' });
  });
});

describe('boot chatter', () => {
  it('puts Nest\'s per-module and per-route lines at debug, and keeps its other lines at info', () => {
    for (const level of ['info', 'debug'] as const) {
      const out = sink();
      const logger = new PinoNestLogger(createPino({ level, format: 'json', name: 'api', destination: out.stream }));
      logger.log('TypeOrmModule dependencies initialized', 'InstanceLoader');
      logger.log('CertificatesController {/api/v1/certificates}:', 'RoutesResolver');
      logger.log('Mapped {/api/v1/certificates, GET} route', 'RouterExplorer');
      logger.log('Nest application successfully started', 'NestApplication');
      const records = out.records().map((r) => [r.level, r.context]);
      expect(records).toEqual(level === 'info'
        ? [[30, 'NestApplication']]
        : [[20, 'InstanceLoader'], [20, 'RoutesResolver'], [20, 'RouterExplorer'], [30, 'NestApplication']]);
    }
  });
});

describe('request logging', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  async function serve(): Promise<{ port: number; records: () => Array<Record<string, unknown>> }> {
    const out = sink();
    const middleware = httpLoggerMiddleware(createPino({ level: 'info', format: 'json', name: 'api', destination: out.stream }));
    const server = createServer((req, res) => middleware(req, res, () => res.writeHead(req.url === '/missing' ? 404 : 200).end('ok')));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    close = () => server.close();
    return { port: (server.address() as AddressInfo).port, records: out.records };
  }

  function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
    return new Promise((done, fail) => {
      request({ host: '127.0.0.1', port, path, headers }, (res) => {
        res.resume().on('end', () => done(res.headers));
      }).on('error', fail).end();
    });
  }

  it('redacts credential-like query parameters and leaves the rest of the URL as sent', () => {
    expect(redactedUrl('/api/v1/teams')).toBe('/api/v1/teams');
    expect(redactedUrl('/api/v1/teams?page=2&sort=name')).toBe('/api/v1/teams?page=2&sort=name');
    expect(redactedUrl('/x?api_key=cck_abc&page=2')).toBe('/x?api_key=[REDACTED]&page=2');
    expect(redactedUrl('/x?access_token=a&apiKey=b&X-Amz-Signature=c&client_secret=d&password=e&session=f'))
      .toBe('/x?access_token=[REDACTED]&apiKey=[REDACTED]&X-Amz-Signature=[REDACTED]&client_secret=[REDACTED]&password=[REDACTED]&session=[REDACTED]');
    expect(redactedUrl('/auth/oidc/callback?code=c&state=s&iss=i&barcode=b')).toBe('/auth/oidc/callback?code=[REDACTED]&state=[REDACTED]&iss=i&barcode=b');
    // Percent-encoded names are judged decoded; a malformed escape as sent.
    expect(redactedUrl('/x?api%5Fkey=s3cret&%E0%A4%A=1')).toBe('/x?api%5Fkey=[REDACTED]&%E0%A4%A=1');
    expect(redactedUrl('/x?token')).toBe('/x?token');
  });

  it('logs one small line per request: id, method, url, status, time; never the headers', async () => {
    const { port, records } = await serve();
    const headers = await get(port, '/api/v1/certificates?page=2', { authorization: 'Bearer secret-key-123', 'x-request-id': 'req-42', cookie: 'session=abc' });
    await get(port, '/missing');
    await new Promise((done) => setTimeout(done, 20));
    expect(headers['x-request-id']).toBe('req-42');
    const [ok, missing, ...rest] = records();
    expect(rest).toEqual([]);
    expect(ok).toMatchObject({ level: 30, reqId: 'req-42', method: 'GET', url: '/api/v1/certificates?page=2', statusCode: 200, msg: 'request completed' });
    expect(typeof ok!.responseTime).toBe('number');
    expect(missing).toMatchObject({ level: 40 });
    const text = JSON.stringify(records());
    expect(text).not.toContain('secret-key-123');
    expect(text).not.toContain('session=abc');
    expect(text).not.toContain('headers');
  });

  it('a client that leaves before the answer is logged as aborted, at warn', async () => {
    const out = sink();
    const middleware = httpLoggerMiddleware(createPino({ level: 'info', format: 'json', name: 'api', destination: out.stream }));
    const server = createServer((req, res) => middleware(req, res, () => setTimeout(() => res.writeHead(200).end('late'), 300)));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    close = () => server.close();
    const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/slow' }).on('error', () => undefined);
    req.end();
    await new Promise((done) => setTimeout(done, 50));
    req.destroy();
    await new Promise((done) => setTimeout(done, 400));
    expect(out.records()).toEqual([expect.objectContaining({ level: 40, url: '/slow', msg: 'request aborted' })]);
  });

  it('logs Prometheus scraping the api\'s certctl families at debug, not at info', async () => {
    const { port, records } = await serve();
    await get(port, '/api/v1/metrics/prometheus');
    await get(port, '/api/v1/certificates');
    await new Promise((done) => setTimeout(done, 20));
    expect(records().map((r) => r.url)).toEqual(['/api/v1/certificates']);
  });

  it('does not log probes and scrapes (/health, /ready, /metrics)', async () => {
    const { port, records } = await serve();
    for (const path of ['/health', '/ready', '/metrics']) await get(port, path);
    await new Promise((done) => setTimeout(done, 20));
    expect(records()).toEqual([]);
  });
});
