import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { ApiError } from './api-error';

export const DEFAULT_PER_PAGE = 50;
export const MAX_PER_PAGE = 500;

/** Page-mode query of every list endpoint. per_page outside 1..500 is a 400, not silently clamped. */
export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, default: 1 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1_000_000)
  page?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PER_PAGE, default: DEFAULT_PER_PAGE })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(MAX_PER_PAGE)
  per_page?: number;

  @ApiPropertyOptional({ description: 'Field to sort by, ours (`expires_at`) or certctl\'s (`notAfter`, `createdAt`); prefix with "-" for descending. Ties break on id.' })
  @IsOptional() @IsString() @Matches(/^-?[A-Za-z_]{1,64}$/)
  sort?: string;

  @ApiPropertyOptional({ enum: ['true', 'false'], description: 'certctl\'s other way to sort descending' })
  @IsOptional() @IsIn(['true', 'false'])
  sort_desc?: string;
}

/** certctl's sort names that are not simply our column in camelCase. */
const CERTCTL_SORT_ALIASES: Readonly<Record<string, string>> = { notAfter: 'expires_at' };

/**
 * The column and direction of `sort` (+ `sort_desc`): our snake_case names, or certctl's camelCase ones
 * (`notAfter`, `-createdAt`, `commonName`). `aliases` maps a resource's own certctl names onto its columns.
 */
export function sortOf(
  query: Pick<PageQuery, 'sort' | 'sort_desc'>, columns: readonly string[], aliases: Readonly<Record<string, string>> = {},
): { field: string; descending: boolean } | undefined {
  if (!query.sort) return undefined;
  const descending = query.sort.startsWith('-') || query.sort_desc === 'true';
  const name = query.sort.replace(/^-/, '');
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const candidates = [aliases[name], name, snake, CERTCTL_SORT_ALIASES[name]].filter((c): c is string => c !== undefined);
  const field = candidates.find((c) => columns.includes(c));
  if (!field) throw ApiError.invalidField('sort', `must be one of ${columns.join(', ')} (optionally in camelCase, "-" for descending)`);
  return { field, descending };
}

/** certctl's list envelope. */
export interface Page<T> {
  data: T[];
  total: number;
  page: number;
  per_page: number;
}

export function pageOf(query: PageQuery): { page: number; perPage: number; offset: number } {
  const page = query.page ?? 1;
  const perPage = query.per_page ?? DEFAULT_PER_PAGE;
  return { page, perPage, offset: (page - 1) * perPage };
}
