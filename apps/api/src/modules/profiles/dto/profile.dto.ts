import { ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, Max, Min, ValidateNested } from 'class-validator';
import { KEY_ALGORITHMS } from '@certctl/contracts';
import { BoolField, EnumField, IdField, IntField, NameField, StringListField, TextField } from '../../../common/http/dto-fields';

export class AllowedKeyAlgorithmDto {
  @IsIn([...KEY_ALGORITHMS]) algorithm: string;
  @IsInt() @Min(0) @Max(16384) min_size: number;
}

export const EKU_NAMES = ['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'timeStamping', 'OCSPSigning'] as const;

export class CreateProfileDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @TextField({ optional: true, max: 2000 }) description?: string;

  @ApiPropertyOptional({ type: [AllowedKeyAlgorithmDto] })
  @IsOptional() @IsArray() @ArrayMaxSize(10) @ValidateNested({ each: true }) @Type(() => AllowedKeyAlgorithmDto)
  allowed_key_algorithms?: AllowedKeyAlgorithmDto[];

  @IntField(0, 10 * 365 * 86400, { optional: true, description: '0 = the issuer default' }) max_ttl_seconds?: number;
  @StringListField({ optional: true, maxItems: 6 }) allowed_ekus?: string[];
  @StringListField({ optional: true, max: 500, description: 'Regular expressions every SAN must match' }) required_san_patterns?: string[];
  @TextField({ optional: true, max: 500 }) spiffe_uri_pattern?: string;
  @BoolField({ optional: true }) allow_short_lived?: boolean;
  @BoolField({ optional: true }) must_staple?: boolean;
  @BoolField({ optional: true }) requires_approval?: boolean;
  @BoolField({ optional: true, description: 'Four eyes on the profile itself: an edit waits as a profile_edit approval until someone else approves it' }) edits_require_approval?: boolean;
  @BoolField({ optional: true }) enabled?: boolean;
  @EnumField(['trust_authenticated', 'challenge'], { optional: true, description: 'ACME server: issue to EAB-bound accounts without challenges, or validate each identifier' })
  acme_auth_mode?: 'trust_authenticated' | 'challenge';
  @IdField({ optional: true, description: 'ACME server: the issuer that signs this profile\'s ACME orders (unset: not served over ACME)' }) acme_issuer_id?: string;
  @BoolField({ optional: true, description: 'ACME server: new accounts need an EAB key (always so in trust_authenticated mode)' }) acme_external_account_required?: boolean;
}

export class UpdateProfileDto extends PartialType(OmitType(CreateProfileDto, ['id'] as const)) {}
