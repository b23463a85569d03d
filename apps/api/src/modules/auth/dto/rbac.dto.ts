import { GRANT_SCOPE_TYPES } from '@certctl/contracts';
import { DateField, EnumField, IdField, NameField, StringListField, TextField } from '../../../common/http/dto-fields';

/** A custom role: a name and a set of permissions from GET /auth/permissions. */
export class CreateRoleDto {
  @IdField({ optional: true, description: 'Defaults to a generated r-… id' }) id?: string;
  @NameField() name: string;
  @TextField({ optional: true, max: 1000 }) description?: string;
  @StringListField({ optional: true, maxItems: 500, max: 100 }) permissions?: string[];
}

export class UpdateRoleDto {
  @NameField({ optional: true }) name?: string;
  @TextField({ optional: true, max: 1000, allowEmpty: true }) description?: string;
  @StringListField({ optional: true, maxItems: 500, max: 100, description: 'Replaces the role\'s permissions' }) permissions?: string[];
}

export class AddRolePermissionDto {
  @TextField({ max: 100, singleLine: true }) permission: string;
}

/** certctl's grant body: a role, where it applies (global, or one team/issuer/profile), and until when. */
export class GrantRoleDto {
  @IdField() role_id: string;
  @EnumField(GRANT_SCOPE_TYPES, { optional: true, description: 'Defaults to global' }) scope_type?: string;
  @IdField({ optional: true, description: 'The team, issuer or profile id; omitted for global' }) scope_id?: string;
  @DateField({ optional: true, future: true }) expires_at?: Date;
}
