import { isIP } from 'node:net';
import { OmitType, PartialType } from '@nestjs/swagger';
import { ValidateBy } from 'class-validator';
import { MEMBERSHIP_TYPES } from '@certctl/db';
import { BoolField, EnumField, IdField, NameField, TextField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

/** `10.0.0.0/8`, `2001:db8::/32`, or a bare address; empty = no address criterion. */
export function isCidr(value: unknown): boolean {
  if (value === '') return true;
  if (typeof value !== 'string') return false;
  const [address = '', prefix, ...rest] = value.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const IsCidr = () => ValidateBy({ name: 'isCidr', validator: { validate: isCidr, defaultMessage: () => '$property must be an IPv4 or IPv6 CIDR (10.0.0.0/8) or address' } });

export class CreateAgentGroupDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @TextField({ optional: true, max: 1000, allowEmpty: true }) description?: string;
  @TextField({ optional: true, max: 64, allowEmpty: true, description: 'Agents whose os equals this (case-insensitive); empty = any' }) match_os?: string;
  @TextField({ optional: true, max: 64, allowEmpty: true, description: 'Agents whose architecture equals this (case-insensitive); empty = any' }) match_architecture?: string;
  @TextField({ optional: true, max: 64, allowEmpty: true, description: 'Agents whose ip_address is inside this CIDR; empty = any' }) @IsCidr()
  match_ip_cidr?: string;
  @TextField({ optional: true, max: 64, allowEmpty: true, description: 'Agents of this version, or a prefix ending in * (1.4.*); empty = any' }) match_version?: string;
  @BoolField({ optional: true }) enabled?: boolean;
}

export class UpdateAgentGroupDto extends PartialType(OmitType(CreateAgentGroupDto, ['id'] as const)) {}

export class AgentGroupQuery extends SearchPageQuery {
  @EnumField(['true', 'false'], { optional: true }) enabled?: string;
}

/** A manual override: always include this agent, or never include it. */
export class AgentGroupMemberDto {
  @IdField() agent_id: string;
  @EnumField(MEMBERSHIP_TYPES, { optional: true, description: 'include (default) or exclude' }) membership_type?: string;
}
