import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { OpenAPIObject } from '@nestjs/swagger';
import { getMetadataArgsStorage } from 'typeorm';

/** A JSON Schema (OpenAPI 3.1 dialect) of a response. */
export type Schema = Record<string, unknown>;

const components = new Map<string, Schema>();

const COLUMN_TYPES: Record<string, Schema> = {
  text: { type: 'string' },
  timestamptz: { type: 'string', format: 'date-time' },
  integer: { type: 'integer' },
  // node-postgres returns int8 as a string, so that no precision is lost.
  bigint: { type: 'string', pattern: '^[0-9]+$' },
  boolean: { type: 'boolean' },
  // JSON columns hold the client's (or the connector's) own structure.
  jsonb: {},
};

/**
 * The wire schema of an entity, from the same TypeORM metadata that reads the row: every selected column is a
 * property; a NOT NULL column is required; a nullable column is optional and never null, because unset fields are
 * omitted (OmitUnsetInterceptor). Columns never selected (hashes, ciphertexts, search text) are not part of it, and
 * no other property is allowed, so the document says exactly what is sent.
 */
export function entitySchema(entity: Function, extra: { properties?: Record<string, Schema>; required?: string[]; omit?: string[] } = {}): Schema {
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const column of getMetadataArgsStorage().columns.filter((c) => c.target === entity)) {
    const options = column.options as { type?: unknown; nullable?: boolean; select?: boolean; array?: boolean };
    if (options.select === false || extra.omit?.includes(column.propertyName)) continue;
    const base = COLUMN_TYPES[String(options.type)];
    if (!base) throw new Error(`entitySchema: ${entity.name}.${column.propertyName} has unmapped column type ${String(options.type)}`);
    properties[column.propertyName] = options.array ? { type: 'array', items: base } : base;
    if (!options.nullable) required.push(column.propertyName);
  }
  Object.assign(properties, extra.properties);
  required.push(...(extra.required ?? []));
  return { type: 'object', additionalProperties: false, required, properties };
}

/** Registers a named schema under components.schemas and returns a reference to it. */
export function component(name: string, schema: Schema): Schema {
  components.set(name, schema);
  return { $ref: `#/components/schemas/${name}` };
}

/** certctl's list envelope around items of `item`. */
export function pageOf(item: Schema): Schema {
  return {
    type: 'object', additionalProperties: false, required: ['data', 'total', 'page', 'per_page'],
    properties: { data: { type: 'array', items: item }, total: { type: 'integer' }, page: { type: 'integer' }, per_page: { type: 'integer' } },
  };
}

/** A closed object: these properties, those required, nothing else. */
export function objectOf(properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema {
  return { type: 'object', additionalProperties: false, required, properties };
}

export const str: Schema = { type: 'string' };
export const int: Schema = { type: 'integer' };
export const bool: Schema = { type: 'boolean' };
export const dateTime: Schema = { type: 'string', format: 'date-time' };
export const strings: Schema = { type: 'array', items: str };

/** Documents the JSON body of a route's success response. */
export const Returns = (schema: Schema, status = 200) =>
  applyDecorators(ApiResponse({ status, description: 'Success', content: { 'application/json': { schema } } }));

/** A field named by a 400, and what is wrong with it. */
export const FieldProblemSchema = component('FieldProblem', objectOf({ field: str, message: str }));

const ERROR_PROPERTIES: Record<string, Schema> = {
  error: str, message: str, code: str, request_id: str, details: { type: 'array', items: FieldProblemSchema },
};
const ERROR_REQUIRED = ['error', 'message', 'code', 'request_id'];

/**
 * The one error body of the API (ApiExceptionFilter): certctl's `{error, message, request_id}`, a stable `code`
 * and, when the request named bad fields, `details`.
 */
export const ErrorSchema = component('Error', objectOf(ERROR_PROPERTIES, ERROR_REQUIRED));

/** The error body plus the extra fields a route adds where certctl's clients read them (ApiError.extra). */
export const errorWith = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema =>
  objectOf({ ...ERROR_PROPERTIES, ...properties }, [...ERROR_REQUIRED, ...required]);

/** Documents an error answer of a route beyond those every route of its kind documents (withErrorResponses). */
export const ReturnsError = (status: number, description: string, schema: Schema = ErrorSchema) =>
  applyDecorators(ApiResponse({ status, description, content: { 'application/json': { schema } } }));

/** The shared error answers, under components.responses. */
const ERROR_RESPONSES: Record<string, { name: string; description: string }> = {
  400: { name: 'BadRequest', description: 'Invalid input; `details` names each field' },
  401: { name: 'Unauthorized', description: 'Missing, unknown, revoked or expired API key' },
  403: { name: 'Forbidden', description: 'The key\'s role may not do this' },
  404: { name: 'NotFound', description: 'No resource with this id' },
  409: { name: 'Conflict', description: 'Conflicts with the current state (a unique name, dependents, the resource\'s status)' },
};

/**
 * The errors every /api/v1 operation of a kind can answer, in the error shape: 401/403 where a key is required,
 * 400 where a body or query is validated, 404 where the path names a resource, 409 for writes (unique names,
 * dependents, states). A route documents others itself (ReturnsError); those it documents are kept.
 */
function withErrorResponses(document: OpenAPIObject): void {
  document.components ??= {};
  document.components.responses = {
    ...document.components.responses,
    ...Object.fromEntries(Object.values(ERROR_RESPONSES).map(({ name, description }) =>
      [name, { description, content: { 'application/json': { schema: ErrorSchema } } }])),
  };
  for (const [path, item] of Object.entries(document.paths)) {
    if (!path.startsWith('/api/v1/')) continue;
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method];
      if (!op) continue;
      const parameters = (op.parameters ?? []) as Array<{ in?: string }>;
      const add = (status: number) => (op.responses[status] ??= { $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` });
      if (op.requestBody || parameters.some((p) => p.in === 'query')) add(400);
      if (op.security?.length) {
        add(401);
        add(403);
      }
      if (parameters.some((p) => p.in === 'path')) add(404);
      if (method !== 'get') add(409);
    }
  }
}

/** Adds the registered response schemas and the documented error answers to a generated document. */
export function withResponseSchemas(document: OpenAPIObject): OpenAPIObject {
  withErrorResponses(document);
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, ...Object.fromEntries(components) } as never;
  return document;
}
