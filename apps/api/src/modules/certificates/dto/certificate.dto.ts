import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { ArrayNotEmpty, IsObject, IsOptional, IsString, Matches, MaxLength, ValidateBy } from 'class-validator';
import { CertificateStatus } from '@certctl/contracts';
import { CLIENT_ID_PATTERN } from '@certctl/db';
import { commonNameProblem, REVOCATION_REASONS, RevocationReason, sanProblem } from '@certctl/pki';
import { BoolField, DateField, EnumField, IdField, NameField, StringListField, TextField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

/**
 * A DNS name (wildcards allowed), an IP address, an email address or a URI: no whitespace, control characters or
 * markup (< >, which no URI may hold unescaped either), at most 253.
 */
const SUBJECT_NAME = /^[^\s,<>\u0000-\u001f\u007f-\u009f]{1,253}$/;

/** Each SAN parses as what it looks like (RFC 1123 DNS name with one leading wildcard label, IP, email, URI). */
const IsSubjectAltNames = () =>
  ValidateBy({
    name: 'isSubjectAltNames',
    validator: {
      validate: (value: unknown) => !Array.isArray(value) || value.every((v) => typeof v !== 'string' || !sanProblem(v)),
      defaultMessage: (args) => {
        const values = (Array.isArray(args?.value) ? args.value : []) as unknown[];
        const index = values.findIndex((v) => typeof v === 'string' && sanProblem(v));
        return index < 0 ? '$property holds an invalid name' : `$property[${index}] "${String(values[index])}" ${sanProblem(values[index] as string)}`;
      },
    },
  });

/** The common name names the server: a DNS name or an IP address, checked like a SAN. */
const IsCommonName = () =>
  ValidateBy({
    name: 'isCommonName',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || !commonNameProblem(value),
      defaultMessage: (args) => `"${String(args?.value)}" ${commonNameProblem(String(args?.value))}`,
    },
  });

/** Tags are a flat map of short strings. */
const IsTagMap = () =>
  ValidateBy({
    name: 'isTagMap',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length <= 50 &&
        Object.entries(value).every(([k, v]) => k.length > 0 && k.length <= 100 && typeof v === 'string' && v.length <= 500),
      defaultMessage: () => '$property must map up to 50 names to strings',
    },
  });

export class CreateCertificateDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @TextField({ max: 253, singleLine: true, description: 'A DNS name or an IP address; it is also a SAN (added first when sans leave it out)' })
  @IsCommonName()
  common_name: string;
  @StringListField({ optional: true, pattern: SUBJECT_NAME, description: 'DNS names, IPs, emails or URIs' }) @IsSubjectAltNames() sans?: string[];
  @TextField({ optional: true, max: 64, singleLine: true }) environment?: string;
  @IdField() owner_id: string;
  @IdField({ optional: true }) team_id?: string | null;
  @IdField() issuer_id: string;
  @IdField({ optional: true, description: 'Defaults to rp-default' }) renewal_policy_id?: string;
  @IdField({ optional: true }) certificate_profile_id?: string | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional() @IsObject() @IsTagMap()
  tags?: Record<string, string>;

  @StringListField({ optional: true, maxItems: 200, description: 'Deployment targets to map; on update, replaces the mapping' })
  target_ids?: string[];
}

export class UpdateCertificateDto extends PartialType(OmitType(CreateCertificateDto, ['id'] as const)) {}

export class CertificateQuery extends SearchPageQuery {
  @EnumField(Object.values(CertificateStatus), { optional: true }) status?: string;
  @IdField({ optional: true }) owner_id?: string;
  @IdField({ optional: true }) team_id?: string;
  @IdField({ optional: true }) issuer_id?: string;
  @IdField({ optional: true }) profile_id?: string;
  @TextField({ optional: true, max: 64, singleLine: true }) environment?: string;
  @DateField({ optional: true, description: 'Only certificates expiring before this time' }) expires_before?: Date;
  @DateField({ optional: true }) expires_after?: Date;

  @ApiPropertyOptional({ description: 'Keyset pagination (certctl cursor mode, created_at order): empty for the first page, then the previous next_cursor' })
  @IsOptional() @IsString() @MaxLength(400) @Matches(/^[A-Za-z0-9_-]*$/, { message: 'cursor must be a next_cursor value' })
  cursor?: string;
}

export class RenewCertificateDto {
  @BoolField({ optional: true, description: 'Cancel an open issuance job of this certificate and start a new one' }) force?: boolean;
}

export class RenewQuery {
  @EnumField(['true', 'false'], { optional: true }) force?: string;
}

export class ExportPemQuery {
  @EnumField(['true', 'false'], { optional: true }) download?: string;
}

/** At most this many certificates per bulk request; a broader match is refused (400) rather than truncated. */
export const BULK_RENEW_MAX_CERTIFICATES = 5000;

/** certctl's bulk criteria: certificates matching every given field. At least one field is required. */
export class BulkRenewDto {
  @IdField({ optional: true }) profile_id?: string;
  @IdField({ optional: true }) owner_id?: string;
  @IdField({ optional: true, description: 'Certificates mapped to a target of this agent' }) agent_id?: string;
  @IdField({ optional: true }) issuer_id?: string;
  @IdField({ optional: true }) team_id?: string;
  @StringListField({ optional: true, maxItems: BULK_RENEW_MAX_CERTIFICATES, pattern: CLIENT_ID_PATTERN, max: 128 }) certificate_ids?: string[];
}

/** certctl's bulk reassignment: explicit certificate ids only, a required owner, an optional team. */
export class BulkReassignDto {
  @StringListField({ maxItems: BULK_RENEW_MAX_CERTIFICATES, pattern: CLIENT_ID_PATTERN, max: 128 })
  @ArrayNotEmpty({ message: 'certificate_ids must name at least one certificate' })
  certificate_ids: string[];
  @IdField() owner_id: string;
  @IdField({ optional: true, description: 'Also moves the certificates to this team' }) team_id?: string;
}

/** PKCS#12 export: the bundle's password (required, 1-128 characters). */
export class ExportPkcs12Dto {
  @TextField({ max: 128, description: 'Encrypts the bundle (AES-256-CBC, PBKDF2-SHA256); 1-128 characters' }) password: string;
}

/** RFC 5280 reason names exactly as certctl spells them (case matters: `KeyCompromise` is refused). */
const REASON_NAMES = Object.keys(REVOCATION_REASONS);

export class RevokeCertificateDto {
  @EnumField(REASON_NAMES, { optional: true, description: 'RFC 5280 reason; defaults to unspecified' }) reason?: RevocationReason;
}

/** Bulk revoke: certctl's bulk criteria and one reason for all. */
export class BulkRevokeDto extends BulkRenewDto {
  @EnumField(REASON_NAMES, { optional: true, description: 'RFC 5280 reason; defaults to unspecified' }) reason?: RevocationReason;
}
