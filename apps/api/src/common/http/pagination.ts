import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

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

  @ApiPropertyOptional({ description: 'Field to sort by; prefix with "-" for descending. Ties break on id.' })
  @IsOptional() @IsString() @Matches(/^-?[a-z_]+$/)
  sort?: string;
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
