import { API_KEY_ROLES } from '@certctl/contracts';
import { DateField, EnumField, NameField } from '../../../common/http/dto-fields';

/** Agent keys are minted by agent registration, not here. */
export const MINTABLE_ROLES = API_KEY_ROLES.filter((r) => r !== 'agent');

export class CreateApiKeyDto {
  @NameField({ description: 'Recorded as the actor of everything this key does' }) name: string;
  @EnumField(MINTABLE_ROLES) role: string;
  @DateField({ optional: true, future: true }) expires_at?: Date;
}
