import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Global, Inject, Injectable, LoggerService, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { pino, Logger as Pino, stdSerializers } from 'pino';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DependencyUnreachableError } from '@certctl/db';

/** Paths pino blanks out: credentials, tokens and PEM private keys are never logged (STYLE C11). */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.privateKey',
  '*.private_key',
  '*.key_pem',
  '*.pem',
  '*.password',
  '*.token',
  '*.secret',
  '*.api_key',
];

/** Requests not worth a log line each (probes and scrapes arrive every few seconds). */
export const UNLOGGED_PATHS = ['/health', '/ready', '/metrics'];
/** Prometheus scraping the api's certctl families: every 15-30 s for ever, so at debug unless it fails. */
export const DEBUG_LOGGED_PATHS = ['/api/v1/metrics/prometheus', '/api/v1/metrics'];
/** Nest's boot chatter (a line per module and per route, ~150 routes): at debug, so info starts with what matters. */
const BOOT_CHATTER_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

/**
 * Query parameters whose values are credentials (`?api_key=`, `?token=`, `access_token`, `secret`, ...), and the
 * OpenID callback's authorization `code` and `state`.
 */
const SECRET_QUERY_PARAM = /(key|token|secret|password|passwd|signature|sig|session|auth|credential)|^(code|state)$/i;

/**
 * A URL fit for a log line: the value of every credential-like query parameter replaced by [REDACTED]. Works on
 * the raw text (no decoding and re-encoding), so the rest of the URL is logged exactly as it was sent.
 */
export function redactedUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const query = url.slice(queryStart + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // A malformed escape: judge the name as sent.
    }
    return eq >= 0 && SECRET_QUERY_PARAM.test(name) ? `${rawName}=[REDACTED]` : pair;
  });
  return `${url.slice(0, queryStart)}?${query.join('&')}`;
}

/** The path as the client sent it (Express rewrites req.url under a mount path). */
function urlOf(req: IncomingMessage): string {
  return (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id of a call: the caller's `x-request-id` when it is sane, otherwise a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
  return id;
}

/** Injection token of the process's pino instance. */
export const PINO = Symbol('PINO');

export interface LoggerOptions {
  level: AppConfig['log']['level'];
  format: AppConfig['log']['format'];
  /** The app (api, orchestrator, ...): the `name` of every line. */
  name: string;
  /** Where lines go (tests); stdout otherwise. */
  destination?: NodeJS.WritableStream;
}

/** The process's pino logger: JSON lines on stdout (pino-pretty for humans), with the redaction above. */
export function createPino(options: LoggerOptions): Pino {
  const settings = {
    level: options.level,
    name: options.name,
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    serializers: { err: stdSerializers.err },
  };
  if (options.format === 'pretty' && !options.destination) {
    return pino({ ...settings, transport: { target: 'pino-pretty', options: { singleLine: true } } });
  }
  // stdout written asynchronously: lines logged while a write is in flight go out together in the next one, so
  // a busy api pays one write(2) per batch of request lines instead of one per line (the larger part of what a
  // request line cost). pino flushes what is pending on exit; only a SIGKILL can lose the last lines.
  return pino(settings, (options.destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }));
}

export function pinoFromConfig(config: AppConfig, destination?: NodeJS.WritableStream): Pino {
  return createPino({ level: config.log.level, format: config.log.format, name: config.serviceName, destination });
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const STACK_LINE = /\n\s+at /;

/**
 * Nest's LoggerService on pino, for `NestFactory.create({ logger })` and `app.useLogger`. It understands both
 * Nest's calling conventions, `(message, [stack], context)` from the framework and `({ fields }, 'message')` from
 * our code (a Nest `Logger` instance appends its context as the last argument). A stack the framework passes as
 * text is kept as a field of the one JSON line, never printed raw.
 */
@Injectable()
export class PinoNestLogger implements LoggerService {
  constructor(@Inject(PINO) readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(requested: Level, message: unknown, params: unknown[]): void {
    // Already one line per attempt and one fatal line from runMain; Nest's ExceptionHandler would add its stack.
    if (message instanceof DependencyUnreachableError) return;
    const rest = [...params];
    // A Nest Logger instance always appends its context (or undefined) last.
    const context = rest.length && (typeof rest[rest.length - 1] === 'string' || rest[rest.length - 1] === undefined)
      ? (rest.pop() as string | undefined)
      : undefined;
    const level = requested === 'info' && context && BOOT_CHATTER_CONTEXTS.has(context) ? 'debug' : requested;
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = context ? { context } : {};
    let text: string | undefined;
    for (const param of rest) {
      if (typeof param === 'string' && STACK_LINE.test(param)) fields.stack = param;
      else if (typeof param === 'string' && text === undefined) text = param;
      else if (param instanceof Error) fields.err = param;
    }
    if (message instanceof Error) {
      this.pino[level]({ ...fields, err: message }, text ?? message.message);
    } else if (message !== null && typeof message === 'object') {
      this.pino[level]({ ...fields, ...(message as Record<string, unknown>) }, text);
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

/**
 * One line per HTTP request with its id, method, path, status and time (`request completed`, or `request
 * aborted` when the client left first); 4xx at warn, 5xx (but 501) at error. Deliberately small: no header
 * dumps and no per-request child logger, so logging at info costs little of a request's CPU. Sets
 * `x-request-id` on the response. Probes and the apps' own /metrics are not logged; Prometheus scraping the api's
 * certctl families is logged at debug (at warn/error when it fails).
 */
export function httpLoggerMiddleware(logger: Pino) {
  return (req: IncomingMessage & { id?: unknown }, res: ServerResponse, next: () => void): void => {
    const id = typeof req.id === 'string' ? req.id : requestIdOf(req);
    res.setHeader('x-request-id', id);
    const url = urlOf(req);
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (UNLOGGED_PATHS.includes(path)) return next();
    const success = DEBUG_LOGGED_PATHS.includes(path) ? 'debug' : 'info';
    const started = performance.now();
    const done = () => {
      res.removeListener('close', done);
      res.removeListener('finish', done);
      const status = res.statusCode;
      const level = !res.writableFinished ? 'warn' : status >= 500 && status !== 501 ? 'error' : status >= 400 ? 'warn' : success;
      if (!logger.isLevelEnabled(level)) return;
      const responseTime = Math.round(performance.now() - started);
      logger[level]({ reqId: id, method: req.method, url: redactedUrl(url), statusCode: status, responseTime }, res.writableFinished ? 'request completed' : 'request aborted');
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
}

/** The app's logger: the pino instance, the Nest adapter, and one log line per request (minus probes). */
@Global()
@Module({
  providers: [
    { provide: PINO, inject: [APP_CONFIG], useFactory: (config: AppConfig) => pinoFromConfig(config) },
    PinoNestLogger,
  ],
  exports: [PINO, PinoNestLogger],
})
export class LoggerModule implements NestModule {
  constructor(@Inject(PINO) private readonly logger: Pino) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(httpLoggerMiddleware(this.logger)).forRoutes('*path');
  }
}
