import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { DigestService, DigestQueued } from './digest.service';
import { DigestPreviewQuery, SendDigestDto } from './dto/digest.dto';

@ApiTags('digest')
@ApiBearerAuth()
@Controller('digest')
export class DigestController {
  constructor(private readonly digest: DigestService) {}

  /** The digest as it would be sent now: HTML (default) or, with `format=json`, the data behind it. */
  @Get('preview')
  @ApiProduces('text/html', 'application/json')
  async preview(@Query() query: DigestPreviewQuery, @Res({ passthrough: true }) res: Response): Promise<unknown> {
    const digest = await this.digest.preview();
    if (query.format === 'json') return digest;
    res.type('text/html; charset=utf-8');
    return digest.html;
  }

  /** Queues the digest to CERTCTL_DIGEST_RECIPIENTS (or the given recipients) now. */
  @Post('send')
  @HttpCode(202)
  send(@CurrentPrincipal() actor: Principal, @Body() body: SendDigestDto, @RequestId() requestId: string): Promise<DigestQueued> {
    return this.digest.send(actor, body.recipients, requestId);
  }
}
