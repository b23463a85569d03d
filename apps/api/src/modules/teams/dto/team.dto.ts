import { OmitType, PartialType } from '@nestjs/swagger';
import { IdField, NameField, TextField } from '../../../common/http/dto-fields';

export class CreateTeamDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @TextField({ optional: true, max: 2000 }) description?: string;
}

export class UpdateTeamDto extends PartialType(OmitType(CreateTeamDto, ['id'] as const)) {}
