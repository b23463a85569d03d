import { CallHandler, ExecutionContext, Injectable, NestInterceptor, SetMetadata, StreamableFile } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { map, Observable } from 'rxjs';
import { getMetadataArgsStorage } from 'typeorm';

const KEEP_NULLS = 'certctl:keep-nulls';

/** Marks a route whose `null`s carry meaning and must be sent as they are. */
export const KeepNulls = () => SetMetadata(KEEP_NULLS, true);

const NULLABLE_FIELDS = 'certctl:nullable-fields';

/**
 * Marks fields of a route's (or a controller's) resources that certctl always sends, `null` when unset (a
 * target's `agent_id`): those are kept as `null`; every other unset field is still left out.
 */
export const SendNullAs = (...fields: string[]) => SetMetadata(NULLABLE_FIELDS, fields);

/**
 * certctl omits optional fields that are unset (Go's `omitempty` on pointer fields) where we hold NULL. This
 * does it once for every response: a `null` property is left out, in resources, list envelopes and nested views
 * alike. The values of JSON columns (a target's `config`, an audit event's `details`, tags, …) are the client's
 * own JSON and are sent untouched, nulls included.
 */
@Injectable()
export class OmitUnsetInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const keep = this.reflector.getAllAndOverride<boolean>(KEEP_NULLS, [context.getHandler(), context.getClass()]);
    if (keep) return next.handle();
    const nullable = new Set(this.reflector.getAllAndOverride<string[]>(NULLABLE_FIELDS, [context.getHandler(), context.getClass()]) ?? []);
    return next.handle().pipe(map((body) => omitUnset(body, nullable)));
  }
}

let jsonFields: ReadonlySet<string> | undefined;
/** JSON values sent under another name than their column's (the agent WorkItem's `target_config` is a target's `config`). */
const RENAMED_JSON_FIELDS = ['target_config'];

/** Names of the JSON columns of every entity, read once from the TypeORM metadata. */
function jsonColumnNames(): ReadonlySet<string> {
  jsonFields ??= new Set([
    ...getMetadataArgsStorage().columns.filter((c) => String(c.options.type) === 'jsonb').map((c) => c.propertyName), ...RENAMED_JSON_FIELDS,
  ]);
  return jsonFields;
}

/** `value` without its null or undefined properties, except those named in `nullable` (sent as `null`). */
export function omitUnset(value: unknown, nullable: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(value)) return value.map((item) => omitUnset(item, nullable));
  if (!isRecord(value)) return value;
  const json = jsonColumnNames();
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === undefined) {
      if (nullable.has(key)) out[key] = null;
      continue;
    }
    out[key] = json.has(key) ? v : omitUnset(v, nullable);
  }
  return out;
}

/** A plain object or an entity instance; not a Date, Buffer, file or stream. */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  if (value instanceof Date || Buffer.isBuffer(value) || value instanceof StreamableFile) return false;
  return typeof (value as { pipe?: unknown }).pipe !== 'function';
}
