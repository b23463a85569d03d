import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CertificateProfileEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { ApprovalsService, ApprovalView } from '../approvals/approvals.service';
import { CreateProfileDto, EKU_NAMES, UpdateProfileDto } from './dto/profile.dto';

@Injectable()
export class ProfilesService {
  readonly crud: CrudResource<CertificateProfileEntity>;

  constructor(@InjectDataSource() dataSource: DataSource, audit: AuditService, private readonly approvals: ApprovalsService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: CertificateProfileEntity, table: 'certificate_profiles', resource: 'profile', idKind: 'profile',
      category: 'config', actions: { created: 'profile_created', updated: 'profile_updated', deleted: 'profile_deleted' },
      sortable: ['name', 'updated_at'], searchable: ['name', 'description'],
    });
  }

  create(actor: Principal, body: CreateProfileDto): Promise<CertificateProfileEntity> {
    checkProfile(body);
    return this.crud.create(actor, body);
  }

  update(actor: Principal, id: string, body: UpdateProfileDto): Promise<CertificateProfileEntity> {
    checkProfile(body);
    return this.crud.update(actor, id, body);
  }

  /** An edit, or (profile with `edits_require_approval`) the approval request that holds it until someone else approves. */
  async updateOrRequest(actor: Principal, id: string, body: UpdateProfileDto): Promise<{ profile?: CertificateProfileEntity; approval?: ApprovalView }> {
    checkProfile(body);
    const current = await this.crud.get(id);
    if (current.edits_require_approval) return { approval: await this.approvals.requestProfileEdit(actor, current, { ...body }) };
    return { profile: await this.crud.update(actor, id, body) };
  }
}

/** EKUs must be known names and SAN patterns must compile, so issuance never meets a broken profile. */
function checkProfile(body: UpdateProfileDto): void {
  for (const eku of body.allowed_ekus ?? []) {
    if (!(EKU_NAMES as readonly string[]).includes(eku)) {
      throw ApiError.invalidField('allowed_ekus', `${eku} is not one of ${EKU_NAMES.join(', ')}`);
    }
  }
  (body.required_san_patterns ?? []).forEach((pattern, i) => {
    try {
      new RegExp(pattern);
    } catch {
      throw ApiError.invalidField(`required_san_patterns.${i}`, 'is not a valid regular expression');
    }
  });
}
