import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { component, dateTime, int, objectOf, Returns, str, strings } from '../../common/openapi/response-schemas';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { DigestService, DigestQueued } from './digest.service';
import { DigestPreviewQuery, SendDigestDto } from './dto/digest.dto';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** The Digest interface (libs/db digest): the data behind the email, with its HTML and text renderings. */
const DigestSchema = component('Digest', objectOf({
  generated_at: dateTime, window_days: int, total_expiring: int, total_expired: int,
  certificates: {
    type: 'array',
    items: objectOf({ id: str, name: str, common_name: str, status: str, expires_at: dateTime, days_left: int, owner_email: str },
      ['id', 'name', 'common_name', 'status', 'expires_at', 'days_left']),
  },
  subject: str, html: str, text: str,
}));

@ApiTags('digest')
@ApiBearerAuth()
@Controller('digest')
export class DigestController {
  constructor(private readonly digest: DigestService) {}

  /** The digest as it would be sent now: HTML (default) or, with `format=json`, the data behind it. */
  @Get('preview')
  @ApiProduces('text/html', 'application/json')
  @ApiResponse({
    status: 200, description: 'The digest: HTML, or its data with format=json',
    content: { 'text/html': { schema: str }, 'application/json': { schema: DigestSchema } },
  })
  @RequirePermission('digest.read')
  async preview(@Query() query: DigestPreviewQuery, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const digest = await this.digest.preview();
    if (query.format === 'json') return digest;
    res.type('text/html; charset=utf-8');
    return digest.html;
  }

  /** Queues the digest to CERTCTL_DIGEST_RECIPIENTS (or the given recipients) now. */
  @Post('send')
  @HttpCode(202)
  @Returns(objectOf({ status: { const: 'digest_queued' }, recipients: strings, notification_ids: strings }), 202)
  @RequirePermission('digest.send')
  send(@CurrentPrincipal() actor: Principal, @Body() body: SendDigestDto, @RequestId() requestId: string): Promise<DigestQueued> {
    return this.digest.send(actor, body.recipients, requestId);
  }
}
