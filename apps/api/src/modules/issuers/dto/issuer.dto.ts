import { OmitType, PartialType } from '@nestjs/swagger';
import { ISSUER_TYPES } from '@certctl/contracts';
import { BoolField, EnumField, IdField, NameField, ObjectField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

export class CreateIssuerDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @EnumField(ISSUER_TYPES) type: string;
  @ObjectField({ optional: true, description: 'Connector settings; see the issuer type' }) config?: Record<string, unknown>;
  @BoolField({ optional: true }) enabled?: boolean;
}

export class UpdateIssuerDto extends PartialType(OmitType(CreateIssuerDto, ['id', 'type'] as const)) {}

export class IssuerQuery extends SearchPageQuery {
  @EnumField(ISSUER_TYPES, { optional: true }) type?: string;
}
