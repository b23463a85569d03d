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

/** Adds the registered response schemas to a generated document. */
export function withResponseSchemas(document: OpenAPIObject): OpenAPIObject {
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, ...Object.fromEntries(components) } as never;
  return document;
}
