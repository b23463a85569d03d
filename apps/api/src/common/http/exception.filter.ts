import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { PgError, pgErrorOf } from '@certctl/db';
import { redactedUrl } from '@certctl/observability';
import { ApiError, FieldProblem } from './api-error';

interface ErrorBody {
  error: string;
  message: string;
  code: string;
  details?: FieldProblem[];
  request_id: string;
}

const STATUS_CODE_NAMES: Partial<Record<number, string>> = {
  400: 'BAD_REQUEST', 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT', 410: 'GONE', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'RATE_LIMITED',
};

/**
 * The one error shape of the API: certctl's `{error, message, request_id}` plus a stable `code` and, for
 * validation, `details`. A 5xx never leaks internals: the client gets a generic message, the log gets the error.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('ApiExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request & { id?: string }>();
    const res = ctx.getResponse<Response>();
    const { status, code, message, details } = this.describe(exception);
    const extra = exception instanceof ApiError ? exception.extra : undefined;
    if (status >= 500 && !deliberate(exception)) {
      this.logger.error({ err: exception, requestId: req.id, path: redactedUrl(req.originalUrl) }, 'request failed');
    }
    sendError(res, status, code, message, String(req.id ?? ''), details, extra);
  }

  private describe(exception: unknown): { status: number; code: string; message: string; details?: FieldProblem[] } {
    if (exception instanceof ApiError) {
      return { status: exception.status, code: exception.code, message: exception.message, details: exception.details };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const message = typeof body === 'string' ? body : messageOf(body) ?? exception.message;
      const code = (typeof body === 'object' && body && 'code' in body && typeof body.code === 'string' && body.code) ||
        (STATUS_CODE_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'ERROR'));
      return { status, code, message: status >= 500 && !deliberate(exception) ? 'internal error' : message };
    }
    const pg = pgErrorOf(exception);
    if (pg?.code === PgError.InvalidTextRepresentation || pg?.code === PgError.CharacterNotInRepertoire) {
      return { status: HttpStatus.BAD_REQUEST, code: 'VALIDATION_FAILED', message: 'a value has the wrong format' };
    }
    const bodyParser = exception as { type?: string; status?: number };
    if (typeof bodyParser?.type === 'string' && typeof bodyParser.status === 'number' && bodyParser.status < 500) {
      return bodyParserError(bodyParser.type, bodyParser.status);
    }
    return { status: HttpStatus.INTERNAL_SERVER_ERROR, code: 'INTERNAL', message: 'internal error' };
  }
}

function messageOf(body: object): string | undefined {
  const m = (body as { message?: unknown }).message;
  if (typeof m === 'string') return m;
  if (Array.isArray(m)) return m.join('; ');
  return undefined;
}

/** Errors raised by the JSON body parser, before any controller runs. */
export function bodyParserError(type: string, status: number): { status: number; code: string; message: string } {
  switch (type) {
    case 'entity.too.large':
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'request body is larger than the limit' };
    case 'entity.nul':
      return { status: 400, code: 'VALIDATION_FAILED', message: 'text must not contain NUL characters' };
    case 'entity.parse.failed':
      return { status: 400, code: 'MALFORMED_JSON', message: 'request body is not valid JSON' };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported body encoding' };
    default:
      return { status, code: STATUS_CODE_NAMES[status] ?? 'BAD_REQUEST', message: 'the request body could not be read' };
  }
}

export function sendError(
  res: Response, status: number, code: string, message: string, requestId: string, details?: FieldProblem[], extra?: Record<string, unknown>,
): void {
  if (res.headersSent) return;
  const body: ErrorBody = { ...extra, error: STATUS_CODES[status] ?? 'Error', message, code, request_id: requestId };
  if (details?.length) body.details = details;
  res.status(status).json(body);
}

/** A 501 thrown on purpose (e.g. a CRL asked of an ACME issuer) is an answer about the request, not a failure. */
function deliberate(exception: unknown): boolean {
  return exception instanceof HttpException && exception.getStatus() === HttpStatus.NOT_IMPLEMENTED;
}
