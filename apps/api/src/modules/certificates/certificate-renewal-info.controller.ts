import { Controller, Get, Param } from '@nestjs/common';
import {  } from '../../common/openapi/response-schemas';
import { InjectDataSource } from '@nestjs/typeorm';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { CertificateRenewalInfoEntity, ManagedCertificateEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { CurrentPrincipal } from '../../common/http/request';
import { checkCertificate } from './certificate-scope';
import { bool, dateTime, objectOf, Returns, str } from '../../common/openapi/response-schemas';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** What the orchestrator last learnt from the CA's ACME Renewal Information (RFC 9773); null fields = not known. */
export interface CertificateRenewalInfoView {
  certificate_id: string;
  /** The version the window was given for; `current` says whether that is still the newest one. */
  certificate_version_id: string | null;
  current: boolean;
  ari_cert_id: string | null;
  window_start: Date | null;
  window_end: Date | null;
  /** When the sweep renews (chosen at random inside the window), unless the policy window comes first. */
  selected_renewal_at: Date | null;
  explanation_url: string | null;
  last_polled_at: Date | null;
  next_poll_at: Date | null;
  last_error: string | null;
}

@ApiTags('certificates')
@ApiBearerAuth()
@Controller('certificates')
export class CertificateRenewalInfoController {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The CA's suggested renewal window (ACME ARI) and the selected renewal time; read-only. */
  @Get(':id/renewal-info')
  @Returns(objectOf({
    certificate_id: str, certificate_version_id: str, current: bool, ari_cert_id: str, window_start: dateTime, window_end: dateTime,
    selected_renewal_at: dateTime, explanation_url: str, last_polled_at: dateTime, next_poll_at: dateTime, last_error: str,
  }, ['certificate_id', 'current']))
  @RequirePermission('cert.read', { scope: 'rows' })
  async renewalInfo(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<CertificateRenewalInfoView> {
    const manager = this.dataSource.manager;
    const cert = await manager.findOne(ManagedCertificateEntity, { select: { id: true, team_id: true, issuer_id: true, certificate_profile_id: true }, where: { id } });
    if (!cert) throw ApiError.notFound('certificate', id);
    checkCertificate(actor, cert);
    const row = await manager.findOne(CertificateRenewalInfoEntity, { where: { certificate_id: id } });
    const newest: Array<{ id: string }> = await manager.query(
      'SELECT id FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [id]);
    return {
      certificate_id: id,
      certificate_version_id: row?.certificate_version_id ?? null,
      current: !!row?.certificate_version_id && row.certificate_version_id === newest[0]?.id,
      ari_cert_id: row?.ari_cert_id || null,
      window_start: row?.window_start ?? null,
      window_end: row?.window_end ?? null,
      selected_renewal_at: row?.selected_renewal_at ?? null,
      explanation_url: row?.explanation_url ?? null,
      last_polled_at: row?.last_polled_at ?? null,
      next_poll_at: row?.next_poll_at ?? null,
      last_error: row?.last_error ?? null,
    };
  }
}
