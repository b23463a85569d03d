import { ActorType, AUDIT_CATEGORIES } from '@certctl/contracts';
import { DateField, EnumField, TextField } from '../../../common/http/dto-fields';
import { PageQuery } from '../../../common/http/pagination';

export class AuditQuery extends PageQuery {
  @EnumField(AUDIT_CATEGORIES, { optional: true }) category?: string;
  @TextField({ optional: true, max: 255 }) actor?: string;
  @EnumField(Object.values(ActorType), { optional: true }) actor_type?: string;
  @TextField({ optional: true, max: 255 }) action?: string;
  @TextField({ optional: true, max: 255 }) resource_type?: string;
  @TextField({ optional: true, max: 1000 }) resource_id?: string;
  @DateField({ optional: true }) since?: Date;
  @DateField({ optional: true }) until?: Date;
}
