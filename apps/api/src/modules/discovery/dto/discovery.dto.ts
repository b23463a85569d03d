import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { AgentDiscoveryReport, DISCOVERED_SOURCE_FORMATS } from '@certctl/contracts';
import { DISCOVERED_CERTIFICATE_STATUSES, DISCOVERY_SCAN_STATUSES } from '@certctl/db';
import {
  BoolField, DateField, EnumField, IdField, IntField, NameField, StringListField, TextField,
} from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';
import { PageQuery } from '../../../common/http/pagination';

/** At most this many ports per target (so one address costs at most 32 connections × SNI names). */
export const MAX_PORTS_PER_TARGET = 32;
const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Ports 1–65535, at least one and at most 32. */
const PortsField = () => (target: object, key: string) => {
  ApiPropertyOptional({ type: [Number], minItems: 1, maxItems: MAX_PORTS_PER_TARGET, default: [443], description: 'TCP ports, 1-65535' })(target, key);
  IsOptional()(target, key);
  IsArray()(target, key);
  ArrayMinSize(1)(target, key);
  ArrayMaxSize(MAX_PORTS_PER_TARGET)(target, key);
  IsInt({ each: true })(target, key);
  Min(1, { each: true })(target, key);
  Max(65535, { each: true })(target, key);
};

export class CreateNetworkScanTargetDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;

  @ApiProperty({ type: [String], minItems: 1, maxItems: 64, description: 'IPv4 CIDRs or single addresses' })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(64) @IsString({ each: true }) @MaxLength(43, { each: true })
  cidrs: string[];

  @PortsField() ports?: number[];
  @StringListField({ optional: true, maxItems: 16, pattern: HOSTNAME, description: 'SNI names: one handshake per name on every port; none = no SNI' })
  sni_hostnames?: string[];
  @BoolField({ optional: true }) enabled?: boolean;
  @IntField(1, 8760, { optional: true, description: 'This target is scanned every so many hours (default 6)' }) scan_interval_hours?: number;
  @IntField(50, 60_000, { optional: true, description: 'Connect timeout, and separately handshake timeout, per probe (default 5000)' }) timeout_ms?: number;
  @IntField(1, 1_000_000, { optional: true, description: 'New connections per second of one scan; default CERTCTL_NETWORK_SCAN_RATE_LIMIT' })
  rate_limit_per_second?: number | null;
}

export class UpdateNetworkScanTargetDto extends PartialType(OmitType(CreateNetworkScanTargetDto, ['id'] as const)) {}

export class NetworkScanTargetQuery extends SearchPageQuery {
  @EnumField(['true', 'false'], { optional: true }) enabled?: string;
}

export class DiscoveryScanQuery extends PageQuery {
  @IdField({ optional: true }) agent_id?: string;
  @IdField({ optional: true }) network_scan_target_id?: string;
  @EnumField(DISCOVERY_SCAN_STATUSES, { optional: true }) status?: string;
  @EnumField(['network', 'agent'], { optional: true }) source?: string;
}

export class DiscoveredCertificateQuery extends SearchPageQuery {
  @EnumField(DISCOVERED_CERTIFICATE_STATUSES, { optional: true }) status?: string;
  @IdField({ optional: true }) agent_id?: string;
  @TextField({ optional: true, max: 200, description: 'Substring of the issuer DN' }) issuer?: string;
  @DateField({ optional: true, description: 'Only certificates expiring before this time' }) expires_before?: Date;
  @TextField({ optional: true, max: 200, description: 'Substring of source_path (ip:port or file path)' }) source?: string;
  @EnumField(['PEM', 'DER', 'network'], { optional: true }) source_format?: string;
  @IdField({ optional: true }) managed_certificate_id?: string;
  @IdField({ optional: true }) discovery_scan_id?: string;
  @EnumField(['true', 'false'], { optional: true, description: 'Only certificates served where a managed one was expected' }) mismatched?: string;
}

export class ClaimDiscoveredCertificateDto {
  @IdField() managed_certificate_id: string;
}

/** One certificate of an agent's filesystem report. Fields the server computes itself are accepted and ignored. */
export class ReportedCertificateDto {
  @TextField({ max: 200_000, description: 'PEM of the certificate (a bundle: leaf first)' }) pem_data: string;
  @TextField({ max: 4096 }) source_path: string;
  @EnumField(DISCOVERED_SOURCE_FORMATS, { optional: true }) source_format?: (typeof DISCOVERED_SOURCE_FORMATS)[number];
  @TextField({ optional: true, max: 128 }) fingerprint_sha256?: string;
  @TextField({ optional: true, max: 1024, allowEmpty: true }) common_name?: string;
  @StringListField({ optional: true, maxItems: 1000 }) sans?: string[];
  @TextField({ optional: true, max: 128, allowEmpty: true }) serial_number?: string;
  @TextField({ optional: true, max: 4096, allowEmpty: true }) issuer_dn?: string;
  @TextField({ optional: true, max: 4096, allowEmpty: true }) subject_dn?: string;
  @TextField({ optional: true, max: 64 }) not_before?: string;
  @TextField({ optional: true, max: 64 }) not_after?: string;
  @TextField({ optional: true, max: 32, allowEmpty: true }) key_algorithm?: string;
  @IntField(0, 65536, { optional: true }) key_size?: number;
  @BoolField({ optional: true }) is_ca?: boolean;
}

export class AgentDiscoveryReportDto implements AgentDiscoveryReport {
  @IdField({ optional: true, description: 'Must equal the agent id of the path when given' }) agent_id?: string;
  @StringListField({ optional: true, maxItems: 1000, max: 4096 }) directories?: string[];

  @ApiProperty({ type: [ReportedCertificateDto], maxItems: 5000 })
  @IsArray() @ArrayMaxSize(5000) @ValidateNested({ each: true }) @Type(() => ReportedCertificateDto)
  certificates: ReportedCertificateDto[];

  @StringListField({ optional: true, maxItems: 1000, max: 4096 }) errors?: string[];
  @IntField(0, 86_400_000, { optional: true }) scan_duration_ms?: number;
}
