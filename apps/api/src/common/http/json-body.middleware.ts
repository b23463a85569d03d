import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { bodyParserError, sendError } from './exception.filter';

/** A JSON `\u0000` escape (not an escaped backslash followed by the text "u0000"). */
const NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/i;

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
      if (!err) return next();
      const e = err as { type?: string; status?: number };
      const { status, code, message } = bodyParserError(String(e.type ?? ''), Number(e.status ?? 400));
      sendError(res, status, code, message, String((req as RequestWithBodyHash).id ?? ''));
    });
  };
}
