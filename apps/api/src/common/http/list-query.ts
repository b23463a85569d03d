import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQuery } from './pagination';

/** Page query plus free-text search. */
export class SearchPageQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Case-insensitive substring search' })
  @IsOptional() @IsString() @MaxLength(200)
  search?: string;
}
