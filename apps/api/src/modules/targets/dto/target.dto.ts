import { OmitType, PartialType } from '@nestjs/swagger';
import { TARGET_TYPES } from '@certctl/contracts';
import { BoolField, EnumField, IdField, NameField, ObjectField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

export class CreateTargetDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @EnumField(TARGET_TYPES) type: string;
  @IdField({ optional: true, description: 'The agent that deploys to this target; none = the orchestrator does' })
  agent_id?: string | null;
  @ObjectField({ optional: true }) config?: Record<string, unknown>;
  @BoolField({ optional: true }) enabled?: boolean;
}

export class UpdateTargetDto extends PartialType(OmitType(CreateTargetDto, ['id', 'type'] as const)) {}

export class TargetQuery extends SearchPageQuery {
  @EnumField(TARGET_TYPES, { optional: true }) type?: string;
  @IdField({ optional: true }) agent_id?: string;
}
