import { ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsEmail, IsIn, IsOptional } from 'class-validator';

export class DigestPreviewQuery {
  @ApiPropertyOptional({ enum: ['html', 'json'], default: 'html' })
  @IsOptional() @IsIn(['html', 'json'])
  format?: 'html' | 'json';
}

export class SendDigestDto {
  @ApiPropertyOptional({ type: [String], description: 'Default: CERTCTL_DIGEST_RECIPIENTS' })
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsEmail({}, { each: true })
  recipients?: string[];
}
