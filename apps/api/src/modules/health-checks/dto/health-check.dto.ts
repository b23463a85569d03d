import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { HEALTH_STATUSES } from '@certctl/contracts';
import { BoolField, EnumField, IdField, IntField, TextField } from '../../../common/http/dto-fields';
import { PageQuery } from '../../../common/http/pagination';

/** SHA-256 in hex, with or without colons ('' clears it: any certificate is then fine). */
const FINGERPRINT = /^$|^[0-9A-Fa-f]{64}$|^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;

export class CreateHealthCheckDto {
  @IdField({ optional: true }) id?: string;
  @TextField({ max: 260, description: 'host:port of the TLS endpoint (IPv4 address or DNS name); refused like scan targets when reserved' })
  endpoint: string;
  @TextField({ optional: true, max: 253, allowEmpty: true, description: 'SNI name sent in the handshake (default: the host when it is a name)' })
  server_name?: string;
  @IdField({ optional: true }) certificate_id?: string;
  @IdField({ optional: true, description: 'The deployment target whose deployments move expected_fingerprint' }) target_id?: string;
  @IdField({ optional: true }) network_scan_target_id?: string;

  @ApiPropertyOptional({ type: String, pattern: FINGERPRINT.source, description: 'SHA-256 of the leaf that must be served; empty = any' })
  @IsOptional() @IsString() @MaxLength(95) @Matches(FINGERPRINT, { message: '$property must be a SHA-256 fingerprint (64 hex digits, colons allowed)' })
  expected_fingerprint?: string;

  @IntField(1, 1000, { optional: true, description: 'Consecutive failures that make the check degraded (default 2)' }) degraded_threshold?: number;
  @IntField(1, 1000, { optional: true, description: 'Consecutive failures that make the check down (default 5; at least degraded_threshold)' }) down_threshold?: number;
  @IntField(1, 604_800, { optional: true, description: 'Seconds between probes, within CERTCTL_HEALTH_CHECK_MIN_INTERVAL..MAX_INTERVAL (default 300)' })
  check_interval_seconds?: number;
  @IntField(50, 60_000, { optional: true, description: 'Connect timeout, and separately handshake timeout, in ms (default 5000)' }) timeout_ms?: number;
  @BoolField({ optional: true }) enabled?: boolean;
}

export class UpdateHealthCheckDto extends PartialType(OmitType(CreateHealthCheckDto, ['id'] as const)) {}

export class HealthCheckQuery extends PageQuery {
  @EnumField(HEALTH_STATUSES, { optional: true }) status?: string;
  @IdField({ optional: true }) certificate_id?: string;
  @IdField({ optional: true }) target_id?: string;
  @IdField({ optional: true }) network_scan_target_id?: string;
  @EnumField(['true', 'false'], { optional: true }) enabled?: string;
  @EnumField(['true', 'false'], { optional: true }) acknowledged?: string;
}

export class HealthHistoryQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @Matches(/^\d{1,4}$/, { message: 'limit must be an integer between 1 and 1000' })
  limit?: string;
}

export class AcknowledgeHealthCheckDto {
  @TextField({ optional: true, max: 255, description: "certctl's field; the acknowledging key's name is recorded" }) actor?: string;
}
