import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, Put, Query, Req, Res, StreamableFile } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, dateTime, int, objectOf, pageOf, str, strings } from '../../common/openapi/response-schemas';
import type { Request, Response } from 'express';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { CertificateVersionEntity, JobEntity, ManagedCertificateEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { Page, PageQuery } from '../../common/http/pagination';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import { CertificatesService, CertificateView, PemExport, RenewalTriggered } from './certificates.service';
import { BulkRenewResult, BulkRenewService } from './bulk-renew.service';
import { BulkReassignResult, BulkReassignService } from './bulk-reassign.service';
import { CertificateExportService } from './certificate-export.service';
import { BulkReassignDto, BulkRenewDto, BulkRevokeDto, CertificateQuery, ExportPkcs12Dto, CreateCertificateDto, ExportPemQuery, RenewCertificateDto, RenewQuery, RevokeCertificateDto, UpdateCertificateDto } from './dto/certificate.dto';
import { BulkRevokeResult, RevocationResult, RevocationService } from './revocation.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

@ApiTags('certificates')
@ApiBearerAuth()
@Controller('certificates')
export class CertificatesController {
  constructor(
    private readonly certificates: CertificatesService, private readonly bulk: BulkRenewService, private readonly reassignment: BulkReassignService,
    private readonly exports: CertificateExportService, private readonly revocations: RevocationService,
  ) {}

  /** The envelope comes as JSON text, sent as it is (certctl's page or, with `cursor`, its keyset envelope). */
  @Get()
  @Header('Content-Type', 'application/json; charset=utf-8')
  @Returns(pageOf(Schemas.Certificate))
  @RequirePermission('cert.read', { scope: 'rows' })
  list(@CurrentPrincipal() actor: Principal, @Query() query: CertificateQuery): Promise<string> {
    return this.certificates.listJson(actor, query);
  }

  @Post()
  @Returns(Schemas.Certificate, 201)
  @RequirePermission('cert.issue', { scope: 'rows' })
  create(@CurrentPrincipal() actor: Principal, @Body() body: CreateCertificateDto): Promise<CertificateView> {
    return this.certificates.create(actor, body);
  }

  @Get(':id')
  @Returns(Schemas.Certificate)
  @RequirePermission('cert.read', { scope: 'rows' })
  get(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<CertificateView> {
    return this.certificates.view(actor, id);
  }

  @Put(':id')
  @Returns(Schemas.Certificate)
  @RequirePermission('cert.edit', { scope: 'rows' })
  update(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: UpdateCertificateDto): Promise<CertificateView> {
    return this.certificates.update(actor, id, body);
  }

  /** Archives the certificate (certctl semantics: DELETE is a soft delete). */
  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('cert.delete', { scope: 'rows' })
  archive(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    return this.certificates.archive(actor, id);
  }

  @Get(':id/versions')
  @Returns(pageOf(Schemas.CertificateVersion))
  @RequirePermission('cert.read', { scope: 'rows' })
  versions(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Query() query: PageQuery): Promise<Page<CertificateVersionEntity>> {
    return this.certificates.versions(actor, id, query);
  }

  @Get(':id/deployments')
  @Returns(pageOf(Schemas.Job))
  @RequirePermission('cert.read', { scope: 'rows' })
  deployments(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Query() query: PageQuery): Promise<Page<JobEntity>> {
    return this.certificates.deployments(actor, id, query);
  }

  /**
   * Opens a renewal job for every certificate matching the criteria (certctl's bulk-renew): archived, revoked
   * and already-renewing certificates are skipped, the approval gate holds gated ones, unknown certificate_ids
   * are reported in `errors`. More than BULK_RENEW_MAX_CERTIFICATES matches is a 400.
   */
  @Post('bulk-renew')
  @HttpCode(200)
  @Returns(objectOf({ total_matched: int, total_enqueued: int, total_skipped: int, total_failed: int, enqueued_jobs: { type: 'array', items: objectOf({ certificate_id: str, job_id: str, job_status: str }) }, errors: { type: 'array', items: Schemas.BulkResultError } }))
  @RequirePermission('cert.issue', { scope: 'rows' })
  bulkRenew(@CurrentPrincipal() actor: Principal, @Body() body: BulkRenewDto, @RequestId() requestId: string): Promise<BulkRenewResult> {
    return this.bulk.renew(actor, body, requestId);
  }

  /** Gives the listed certificates a new owner (and team): certctl's bulk-reassign. Unknown owner or team: 400. */
  @Post('bulk-reassign')
  @HttpCode(200)
  @Returns(objectOf({ total_matched: int, total_reassigned: int, total_skipped: int, total_failed: int, errors: { type: 'array', items: Schemas.BulkResultError } }))
  @RequirePermission('cert.edit', { scope: 'rows' })
  bulkReassign(@CurrentPrincipal() actor: Principal, @Body() body: BulkReassignDto): Promise<BulkReassignResult> {
    return this.reassignment.reassign(actor, body);
  }

  /**
   * Revokes by certctl's bulk criteria with one reason: `{total_matched, total_revoked, total_skipped, total_failed,
   * errors}`; revoked and archived certificates are skipped, unknown certificate_ids reported in `errors`.
   */
  @Post('bulk-revoke')
  @HttpCode(200)
  @Returns(objectOf({ total_matched: int, total_revoked: int, total_skipped: int, total_failed: int, errors: { type: 'array', items: Schemas.BulkResultError } }))
  @RequirePermission('cert.bulk_revoke', { scope: 'rows' })
  bulkRevoke(@CurrentPrincipal() actor: Principal, @Body() body: BulkRevokeDto, @RequestId() requestId: string): Promise<BulkRevokeResult> {
    return this.revocations.bulkRevoke(actor, body, requestId);
  }

  /** Revokes every unexpired version (200 `{status: "revoked"}`); 409 when already revoked or archived. */
  @Post(':id/revoke')
  @HttpCode(200)
  @Returns(objectOf({ status: { const: 'revoked' }, certificate_id: str, revocation_reason: str, revoked_at: dateTime, revoked_serials: strings, cancelled_job_ids: strings }))
  @RequirePermission('cert.revoke', { scope: 'rows' })
  revoke(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: RevokeCertificateDto, @RequestId() requestId: string): Promise<RevocationResult> {
    return this.revocations.revoke(actor, id, body.reason ?? 'unspecified', requestId);
  }

  /** Starts an issuance or renewal (202); `force` (query or body) replaces an open one. */
  @Post(':id/renew')
  @HttpCode(202)
  @Returns(objectOf({ status: { const: 'renewal_triggered' }, job_id: str, job_status: str, cancelled_job_ids: strings }), 202)
  @RequirePermission('cert.issue', { scope: 'rows' })
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
  @Returns(objectOf({ cert_pem: str, chain_pem: str, full_pem: str, certificate_id: str, version_id: str, serial_number: str, fingerprint_sha256: str, not_after: dateTime }))
  @RequirePermission('cert.read', { scope: 'rows' })
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
    return pem.full_pem;
  }

  /**
   * The newest version and its private key as a password-protected PKCS#12 file (`application/x-pkcs12`), for
   * server-held keys only (409 for a key made on an agent). The password is 1-128 characters.
   */
  @Post(':id/export/pkcs12')
  @HttpCode(200)
  @ApiProduces('application/x-pkcs12')
  @RequirePermission('cert.read', { scope: 'rows' })
  async exportPkcs12(
    @CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: ExportPkcs12Dto, @Res({ passthrough: true }) res: Response,
  ): Promise<StreamableFile> {
    const bundle = await this.exports.pkcs12(actor, id, body.password);
    res.setHeader('Content-Disposition', `attachment; filename="${id}.p12"`);
    return new StreamableFile(bundle, { type: 'application/x-pkcs12' });
  }
}
