import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQuery } from '../../../common/http/pagination';

/** GET /reports/readiness: a page of certificates, filtered by team and issuer; `format=csv` exports every matching row. */
export class ReadinessQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Only the certificates of this team (404 when the team does not exist)' })
  @IsOptional() @IsString() @MaxLength(200)
  team_id?: string;

  @ApiPropertyOptional({ description: 'Only the certificates of this issuer (404 when the issuer does not exist)' })
  @IsOptional() @IsString() @MaxLength(200)
  issuer_id?: string;

  @ApiPropertyOptional({ enum: ['json', 'csv'], description: 'csv: every matching certificate as text/csv (also chosen by `Accept: text/csv`)' })
  @IsOptional() @IsIn(['json', 'csv'])
  format?: 'json' | 'csv';
}
