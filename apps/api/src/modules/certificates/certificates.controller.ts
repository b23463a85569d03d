import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { CertificateVersionEntity, JobEntity, ManagedCertificateEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { Page, PageQuery } from '../../common/http/pagination';
import type { CursorPage } from './certificates.repository';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { CertificatesService, CertificateView, PemExport, RenewalTriggered } from './certificates.service';
import { BulkRenewResult, BulkRenewService } from './bulk-renew.service';
import { BulkRenewDto, CertificateQuery, CreateCertificateDto, ExportPemQuery, RenewCertificateDto, RenewQuery, UpdateCertificateDto } from './dto/certificate.dto';

@ApiTags('certificates')
@ApiBearerAuth()
@Controller('certificates')
export class CertificatesController {
  constructor(private readonly certificates: CertificatesService, private readonly bulk: BulkRenewService) {}

  @Get()
  list(@Query() query: CertificateQuery): Promise<Page<ManagedCertificateEntity> | CursorPage<ManagedCertificateEntity>> {
    return this.certificates.list(query);
  }

  @Post()
  create(@CurrentPrincipal() actor: Principal, @Body() body: CreateCertificateDto): Promise<CertificateView> {
    return this.certificates.create(actor, body);
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<CertificateView> {
    return this.certificates.get(id);
  }

  @Put(':id')
  update(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: UpdateCertificateDto): Promise<CertificateView> {
    return this.certificates.update(actor, id, body);
  }

  /** Archives the certificate (certctl semantics: DELETE is a soft delete). */
  @Delete(':id')
  @HttpCode(204)
  archive(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    return this.certificates.archive(actor, id);
  }

  @Get(':id/versions')
  versions(@Param('id') id: string, @Query() query: PageQuery): Promise<Page<CertificateVersionEntity>> {
    return this.certificates.versions(id, query);
  }

  @Get(':id/deployments')
  deployments(@Param('id') id: string, @Query() query: PageQuery): Promise<Page<JobEntity>> {
    return this.certificates.deployments(id, query);
  }

  /**
   * Opens a renewal job for every certificate matching the criteria (certctl's bulk-renew): archived, revoked
   * and already-renewing certificates are skipped, the approval gate holds gated ones, unknown certificate_ids
   * are reported in `errors`. More than BULK_RENEW_MAX_CERTIFICATES matches is a 400.
   */
  @Post('bulk-renew')
  @HttpCode(200)
  bulkRenew(@CurrentPrincipal() actor: Principal, @Body() body: BulkRenewDto, @RequestId() requestId: string): Promise<BulkRenewResult> {
    return this.bulk.renew(actor, body, requestId);
  }

  /** Starts an issuance or renewal (202); `force` (query or body) replaces an open one. */
  @Post(':id/renew')
  @HttpCode(202)
  renew(
    @CurrentPrincipal() actor: Principal, @Param('id') id: string, @Query() query: RenewQuery, @Body() body: RenewCertificateDto,
    @RequestId() requestId: string,
  ): Promise<RenewalTriggered> {
    return this.certificates.renew(actor, id, query.force === 'true' || body.force === true, requestId);
  }

  /**
   * The current certificate and chain as JSON, or as PEM text (application/x-pem-file) when the client's `Accept`
   * prefers it, or as a PEM file download with `?download=true`. Never a private key.
   */
  @Get(':id/export/pem')
  async exportPem(
    @CurrentPrincipal() actor: Principal, @Param('id') id: string, @Query() query: ExportPemQuery,
    @Req() req: Request, @Res({ passthrough: true }) res: Response,
  ): Promise<PemExport | string> {
    const pem = await this.certificates.exportPem(actor, id);
    const download = query.download === 'true';
    if (!download && req.accepts(['application/json', 'application/x-pem-file']) !== 'application/x-pem-file') return pem;
    res.setHeader('Content-Type', 'application/x-pem-file');
    res.vary('Accept');
    if (download) res.setHeader('Content-Disposition', `attachment; filename="${id}.pem"`);
    return pem.full_chain_pem;
  }
}
