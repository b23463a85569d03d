import { OmitType, PartialType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { canonicalTargetType, TARGET_TYPES } from '@certctl/contracts';
import { BoolField, EnumField, IdField, NameField, ObjectField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

export class CreateTargetDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  /** certctl's names; the old spelling `KubernetesSecret` is accepted and stored as `KubernetesSecrets`. */
  @EnumField(TARGET_TYPES) @Transform(({ value }) => (typeof value === 'string' ? canonicalTargetType(value) : value))
  type: string;
  @IdField({ optional: true, description: 'The agent that deploys to this target; none = the orchestrator does' })
  agent_id?: string | null;
  @IdField({ optional: true, description: 'The owning team; a team-scoped caller must name one of its teams' })
  team_id?: string | null;
  @ObjectField({ optional: true }) config?: Record<string, unknown>;
  @BoolField({ optional: true }) enabled?: boolean;
}

export class UpdateTargetDto extends PartialType(OmitType(CreateTargetDto, ['id', 'type'] as const)) {}

export class TargetQuery extends SearchPageQuery {
  @EnumField(TARGET_TYPES, { optional: true }) @Transform(({ value }) => (typeof value === 'string' ? canonicalTargetType(value) : value))
  type?: string;
  @IdField({ optional: true }) agent_id?: string;
  @IdField({ optional: true }) team_id?: string;
}
