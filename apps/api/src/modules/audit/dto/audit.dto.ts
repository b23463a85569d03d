import { ActorType, AUDIT_CATEGORIES } from '@certctl/contracts';
import { DateField, EnumField, IntField, TextField } from '../../../common/http/dto-fields';
import { Type } from 'class-transformer';
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

/** Rows of an export when no `limit` is given, and the most one export streams. */
export const AUDIT_EXPORT_DEFAULT_LIMIT = 50_000;
export const AUDIT_EXPORT_MAX_LIMIT = 1_000_000;

/** certctl's export filters (`from`, `to`, `category`, `limit`) plus the list's own. */
export class AuditExportQuery {
  @DateField({ optional: true, description: 'Events at or after this time' }) from?: Date;
  @DateField({ optional: true, description: 'Events before this time' }) to?: Date;
  @EnumField(AUDIT_CATEGORIES, { optional: true }) category?: string;
  @TextField({ optional: true, max: 255 }) actor?: string;
  @EnumField(Object.values(ActorType), { optional: true }) actor_type?: string;
  @TextField({ optional: true, max: 255 }) action?: string;
  @TextField({ optional: true, max: 255 }) resource_type?: string;
  @TextField({ optional: true, max: 1000 }) resource_id?: string;
  @Type(() => Number) @IntField(1, AUDIT_EXPORT_MAX_LIMIT, { optional: true, description: `At most this many events (default ${AUDIT_EXPORT_DEFAULT_LIMIT})` })
  limit?: number;
}
