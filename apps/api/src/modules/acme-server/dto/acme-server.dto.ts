import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageQuery } from '../../../common/http/pagination';
import { DateField, IdField } from '../../../common/http/dto-fields';

export class CreateEabKeyDto {
  @IdField({ description: 'The certificate profile (served over ACME) the key registers an account on' }) profile_id: string;
  @IdField({ description: 'Owner of the account the key binds and of every certificate it gets' }) owner_id: string;
  @IdField({ optional: true, description: 'Team of the account and its certificates' }) team_id?: string;
  @DateField({ optional: true, future: true, description: 'After it, the key no longer registers an account' }) expires_at?: Date;
}

export class EabKeyQuery extends PageQuery {
  @IdField({ optional: true }) profile_id?: string;
}

export class AcmeAccountQuery extends PageQuery {
  @IdField({ optional: true }) profile_id?: string;
  @ApiPropertyOptional({ enum: ['valid', 'deactivated', 'revoked'] })
  @IsOptional() @IsIn(['valid', 'deactivated', 'revoked'])
  status?: string;
}

export class AcmeOrderQuery extends PageQuery {
  @IdField({ optional: true }) account_id?: string;
  @IdField({ optional: true }) profile_id?: string;
  @ApiPropertyOptional({ enum: ['pending', 'ready', 'processing', 'valid', 'invalid'] })
  @IsOptional() @IsIn(['pending', 'ready', 'processing', 'valid', 'invalid'])
  status?: string;
}
