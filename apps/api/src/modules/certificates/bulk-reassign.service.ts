import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { CertificatesRepository } from './certificates.repository';
import { certificateScopeSql, checkCertificateLands } from './certificate-scope';
import { BulkReassignDto } from './dto/certificate.dto';

export interface BulkReassignResult {
  total_matched: number;
  total_reassigned: number;
  total_skipped: number;
  total_failed: number;
  errors: Array<{ certificate_id: string; error: string }>;
}

/**
 * POST /certificates/bulk-reassign (certctl): gives the listed certificates a new owner (and team, when given) in
 * one statement. An unknown owner or team is a 400 naming the field; unknown certificate ids are reported in
 * `errors`; archived certificates, and those already with that owner and team, are skipped.
 */
@Injectable()
export class BulkReassignService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly repository: CertificatesRepository,
  ) {}

  async reassign(actor: Principal, body: BulkReassignDto): Promise<BulkReassignResult> {
    const ids = [...new Set(body.certificate_ids)];
    const teamId = body.team_id ?? null;
    const result = await this.dataSource.transaction(async (tx) => {
      const [owner]: Array<{ id: string }> = await tx.query('SELECT id FROM owners WHERE id = $1 FOR SHARE', [body.owner_id]);
      if (!owner) throw ApiError.missingReference('owner_id', body.owner_id);
      if (teamId) {
        const [team]: Array<{ id: string }> = await tx.query('SELECT id FROM teams WHERE id = $1 FOR SHARE', [teamId]);
        if (!team) throw ApiError.missingReference('team_id', teamId);
      }
      // A team-scoped caller reassigns into one of its own teams, and only certificates it may edit (others: not found).
      if (teamId) checkCertificateLands(actor, 'cert.edit', { team_id: teamId });
      const params: unknown[] = [ids];
      const scope = certificateScopeSql(actor, 'cert.edit', params);
      const found: Array<{ id: string; status: string; owner_id: string; team_id: string | null }> = await tx.query(
        `SELECT id, status, owner_id, team_id FROM managed_certificates WHERE id = ANY($1) ${scope ? `AND ${scope}` : ''} ORDER BY id FOR UPDATE`, params,
      );
      const known = new Set(found.map((c) => c.id));
      const errors = ids.filter((id) => !known.has(id)).map((certificate_id) => ({ certificate_id, error: 'certificate not found' }));
      const changing = found.filter((c) => c.status !== 'Archived' && (c.owner_id !== body.owner_id || (teamId !== null && c.team_id !== teamId)));
      if (changing.length) {
        await tx.query(
          `UPDATE managed_certificates SET owner_id = $2, team_id = COALESCE($3, team_id), updated_at = now() WHERE id = ANY($1)`,
          [changing.map((c) => c.id), body.owner_id, teamId],
        );
        await this.audit.record({
          actor, action: 'certificates_bulk_reassigned', resource_type: 'certificate', resource_id: '',
          details: { owner_id: body.owner_id, team_id: teamId, certificate_ids: changing.map((c) => c.id) },
        }, tx);
      }
      return {
        total_matched: found.length, total_reassigned: changing.length, total_skipped: found.length - changing.length,
        total_failed: errors.length, errors,
      };
    });
    this.repository.invalidate();
    return result;
  }
}
