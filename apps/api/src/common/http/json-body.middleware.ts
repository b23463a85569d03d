import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import type { FieldProblem } from './api-error';
import { bodyParserError, sendError } from './exception.filter';

/** A JSON `\u0000` escape (not an escaped backslash followed by the text "u0000"). */
const NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/i;

/** Deeper than any of our DTOs nests; a body nested deeper would only exhaust the stack of recursive transforms. */
export const MAX_JSON_DEPTH = 32;
/** With the u flag a surrogate pair is one code point, so this matches only a surrogate without its partner. */
const LONE_SURROGATE = /\p{Cs}/u;

export type RequestWithBodyHash = Request & { id?: string; bodySha256?: string };

/**
 * The JSON body parser with certctl's 1 MiB limit. Its errors (malformed JSON, oversized body) become the API's
 * error shape here, because they happen before Nest's exception filters can see the request. The SHA-256 of
 * the raw body is kept for the audit trail.
 */
export function jsonBodyMiddleware(limitBytes: number): RequestHandler {
  const parse = express.json({
    limit: limitBytes,
    strict: true,
    verify: (req, _res, buf) => {
      // PostgreSQL text cannot hold NUL; refuse it here rather than fail deep in a query.
      if (NUL_ESCAPE.test(buf.toString('latin1'))) {
        throw Object.assign(new Error('NUL character in body'), { type: 'entity.nul', status: 400 });
      }
      (req as RequestWithBodyHash).bodySha256 = createHash('sha256').update(buf).digest('hex');
    },
  });
  return (req: Request, res: Response, next: NextFunction) => {
    parse(req, res, (err?: unknown) => {
      const requestId = String((req as RequestWithBodyHash).id ?? '');
      if (err) {
        const e = err as { type?: string; status?: number };
        const { status, code, message } = bodyParserError(String(e.type ?? ''), Number(e.status ?? 400));
        return sendError(res, status, code, message, requestId);
      }
      const problem = bodyShapeProblem(req.body);
      if (problem) {
        return sendError(res, 400, 'VALIDATION_FAILED', `${problem.field}: ${problem.message}`, requestId, [problem]);
      }
      next();
    });
  };
}

/**
 * What JSON.parse accepts but nothing after it should see: nesting deeper than MAX_JSON_DEPTH, and strings (values
 * or keys) holding a lone UTF-16 surrogate (`"\ud800"`), which no validator, encoder or PostgreSQL column can take.
 * Walked with an explicit stack, so a 20,000-deep body cannot overflow this check either.
 */
export function bodyShapeProblem(body: unknown): FieldProblem | undefined {
  const pending: Array<{ value: unknown; path: string; depth: number }> = [{ value: body, path: '', depth: 0 }];
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return { field: path || 'body', message: 'must not contain a lone UTF-16 surrogate' };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_JSON_DEPTH) return { field: path || 'body', message: `nests deeper than ${MAX_JSON_DEPTH} levels` };
    for (const [key, child] of Object.entries(value)) {
      const childPath = path ? `${path}.${key}` : key;
      if (LONE_SURROGATE.test(key)) return { field: path || 'body', message: 'a key must not contain a lone UTF-16 surrogate' };
      pending.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  return undefined;
}
