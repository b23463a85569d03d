import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsDate, IsEmail, IsIn, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, Matches,
  Max, MaxLength, Min, MinDate,
} from 'class-validator';
import { CLIENT_ID_PATTERN } from '@certctl/db';

/**
 * Field decorators that validate and document in one place, so a DTO's OpenAPI schema cannot drift from its
 * validation. `optional` fields may be omitted (and, where the column allows it, set to null).
 */
interface FieldOptions {
  optional?: boolean;
  description?: string;
}

function doc(type: Parameters<typeof ApiProperty>[0], o: FieldOptions) {
  return o.optional ? [ApiPropertyOptional({ ...type, description: o.description }), IsOptional()] :
    [ApiProperty({ ...type, description: o.description })];
}

/** A single-line name: no control characters, and no markup (`<`, `>`) that a mail or a page could render. */
const PLAIN_NAME = /^[^\u0000-\u001f\u007f-\u009f<>]*$/;

const singleLine = () =>
  Matches(PLAIN_NAME, { message: '$property must not contain control characters (such as a newline) or < >' });

export const TextField = (o: FieldOptions & { max?: number; allowEmpty?: boolean; singleLine?: boolean } = {}) =>
  applyDecorators(
    ...doc({ type: String, maxLength: o.max ?? 255 }, o),
    IsString(),
    MaxLength(o.max ?? 255),
    ...(o.allowEmpty || o.optional ? [] : [IsNotEmpty()]),
    ...(o.singleLine ? [singleLine()] : []),
  );

export const NameField = (o: FieldOptions = {}) =>
  applyDecorators(...doc({ type: String, maxLength: 255 }, o), IsString(), IsNotEmpty(), MaxLength(255), singleLine());

/** A client-supplied id (accepted on create, like certctl), or the id of a referenced row. */
export const IdField = (o: FieldOptions = {}) =>
  applyDecorators(
    ...doc({ type: String, pattern: CLIENT_ID_PATTERN.source }, o),
    IsString(),
    Matches(CLIENT_ID_PATTERN, { message: '$property must be 1-128 letters, digits, ".", "_" or "-"' }),
  );

export const EmailField = (o: FieldOptions = {}) =>
  applyDecorators(...doc({ type: String, format: 'email' }, o), IsEmail());

export const EnumField = (values: readonly string[], o: FieldOptions = {}) =>
  applyDecorators(
    ...doc({ enum: [...values] }, o),
    IsIn([...values], { message: `$property must be one of ${values.join(', ')}` }),
  );

export const BoolField = (o: FieldOptions = {}) => applyDecorators(...doc({ type: Boolean }, o), IsBoolean());

export const IntField = (min: number, max: number, o: FieldOptions = {}) =>
  applyDecorators(...doc({ type: Number, minimum: min, maximum: max }, o), IsInt(), Min(min), Max(max));

export const StringListField = (o: FieldOptions & { maxItems?: number; pattern?: RegExp; max?: number } = {}) =>
  applyDecorators(
    ...doc({ type: [String], maxItems: o.maxItems ?? 100 }, o),
    IsArray(),
    ArrayMaxSize(o.maxItems ?? 100),
    IsString({ each: true }),
    MaxLength(o.max ?? 253, { each: true }),
    ...(o.pattern ? [Matches(o.pattern, { each: true })] : []),
  );

export const IntListField = (min: number, max: number, o: FieldOptions = {}) =>
  applyDecorators(
    ...doc({ type: [Number] }, o), IsArray(), ArrayMaxSize(50), IsInt({ each: true }), Min(min, { each: true }),
    Max(max, { each: true }),
  );

export const ObjectField = (o: FieldOptions = {}) =>
  applyDecorators(...doc({ type: 'object', additionalProperties: true }, o), IsObject());

/**
 * RFC 3339 timestamp in a body or query string. Only a string becomes a Date: anything else (an object, a number)
 * is left as it is for IsDate to refuse, since `new Date({toString: 1})` throws. `future`: must lie ahead of now.
 */
export const DateField = (o: FieldOptions & { future?: boolean } = {}) =>
  applyDecorators(
    ...doc({ type: String, format: 'date-time' }, o),
    Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? new Date(value) : value)),
    IsDate({ message: '$property must be an RFC 3339 timestamp' }),
    ...(o.future ? [MinDate(() => new Date(), { message: '$property must be in the future' })] : []),
  );
