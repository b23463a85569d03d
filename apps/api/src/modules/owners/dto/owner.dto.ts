import { OmitType, PartialType } from '@nestjs/swagger';
import { EmailField, IdField, NameField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

export class CreateOwnerDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @EmailField({ description: 'Default recipient of this owner\'s certificate alerts' }) email: string;
  @IdField({ optional: true }) team_id?: string | null;
}

export class UpdateOwnerDto extends PartialType(OmitType(CreateOwnerDto, ['id'] as const)) {}

export class OwnerQuery extends SearchPageQuery {
  @IdField({ optional: true }) team_id?: string;
}
