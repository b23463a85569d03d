import { CallHandler, ExecutionContext, Injectable, NestInterceptor, SetMetadata, StreamableFile } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { map, Observable } from 'rxjs';

const KEEP_NULLS = 'certctl:keep-nulls';

/** Marks a route whose `null`s carry meaning (e.g. "no break found") and must be sent as they are. */
export const KeepNulls = () => SetMetadata(KEEP_NULLS, true);

/**
 * certctl omits optional fields that are unset (Go's `omitempty` on pointer fields) where we hold NULL. This
 * does it once for every response: a `null` property of a resource is left out, for a single resource, for the
 * items of a list envelope (`data`) and for bare arrays of resources. Values inside a resource (a target's
 * `config`, an audit event's `details`, tags) are the client's own JSON and are sent untouched.
 */
@Injectable()
export class OmitUnsetInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const keep = this.reflector.getAllAndOverride<boolean>(KEEP_NULLS, [context.getHandler(), context.getClass()]);
    return keep ? next.handle() : next.handle().pipe(map(omitUnset));
  }
}

export function omitUnset(body: unknown): unknown {
  if (Array.isArray(body)) return body.map(omitNullProperties);
  if (!isRecord(body)) return body;
  const resource = omitNullProperties(body) as Record<string, unknown>;
  for (const key of ['data', 'jobs'] as const) {
    if (Array.isArray(resource[key])) resource[key] = (resource[key] as unknown[]).map(omitNullProperties);
  }
  return resource;
}

function omitNullProperties(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== null) out[key] = v;
  return out;
}

/** A plain object or an entity instance; not a Date, Buffer, file or stream. */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  if (value instanceof Date || Buffer.isBuffer(value) || value instanceof StreamableFile) return false;
  return typeof (value as { pipe?: unknown }).pipe !== 'function';
}
