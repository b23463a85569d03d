import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In } from 'typeorm';
import {
  CertificateTargetMappingEntity, CertificateVersionEntity, DeploymentTargetEntity, JobEntity, ManagedCertificateEntity,
  newId,
} from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { Page, PageQuery, pageOf } from '../../common/http/pagination';
import { translateWriteError } from '../../common/http/write-errors';
import { PoliciesService } from '../policies/policies.service';
import { CertificatesRepository } from './certificates.repository';
import { CertificateQuery, CreateCertificateDto, UpdateCertificateDto } from './dto/certificate.dto';

export type CertificateView = ManagedCertificateEntity & { target_ids: string[] };

const DEFAULT_RENEWAL_POLICY = 'rp-default';

@Injectable()
export class CertificatesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repository: CertificatesRepository,
    private readonly policies: PoliciesService,
    private readonly audit: AuditService,
  ) {}

  list(query: CertificateQuery): Promise<Page<ManagedCertificateEntity>> {
    return this.repository.list(query);
  }

  async get(id: string, manager: EntityManager = this.dataSource.manager): Promise<CertificateView> {
    const cert = await manager.findOne(ManagedCertificateEntity, { where: { id } });
    if (!cert) throw ApiError.notFound('certificate', id);
    const mappings = await manager.find(CertificateTargetMappingEntity, { where: { certificate_id: id }, order: { target_id: 'ASC' } });
    return { ...cert, target_ids: mappings.map((m) => m.target_id) };
  }

  /** Creates the certificate, maps its targets and evaluates the policies, in one transaction with its audit event. */
  async create(actor: Principal, body: CreateCertificateDto): Promise<CertificateView> {
    const { target_ids: targetIds, ...fields } = body;
    const id = fields.id ?? newId('certificate');
    try {
      return await this.dataSource.transaction(async (tx) => {
        await tx.insert(ManagedCertificateEntity, {
          ...fields,
          id,
          sans: dedupe(fields.sans ?? []),
          renewal_policy_id: fields.renewal_policy_id ?? DEFAULT_RENEWAL_POLICY,
          status: 'Pending',
        });
        if (targetIds) await this.mapTargets(tx, id, targetIds);
        const cert = await this.get(id, tx);
        await this.audit.record(
          { actor, action: 'certificate_created', resource_type: 'certificate', resource_id: id,
            details: { name: cert.name, common_name: cert.common_name, target_ids: cert.target_ids } },
          tx,
        );
        await this.policies.evaluate(tx, actor, cert);
        return cert;
      });
    } catch (err) {
      translateWriteError(err, 'managed_certificates', 'certificate');
    }
  }

  async update(actor: Principal, id: string, body: UpdateCertificateDto): Promise<CertificateView> {
    const { target_ids: targetIds, ...fields } = body;
    try {
      return await this.dataSource.transaction(async (tx) => {
        const current = await this.lock(tx, id);
        if (current.status === 'Archived') {
          throw ApiError.conflict('CERTIFICATE_ARCHIVED', `certificate ${id} is archived and cannot be changed`);
        }
        const patch = { ...fields, ...(fields.sans ? { sans: dedupe(fields.sans) } : {}) };
        const changed = Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined);
        if (changed.length) await tx.update(ManagedCertificateEntity, { id }, patch);
        if (targetIds) await this.mapTargets(tx, id, targetIds);
        const cert = await this.get(id, tx);
        await this.audit.record(
          { actor, action: 'certificate_updated', resource_type: 'certificate', resource_id: id,
            details: { changed_fields: targetIds ? [...changed, 'target_ids'] : changed } },
          tx,
        );
        await this.policies.evaluate(tx, actor, cert);
        return cert;
      });
    } catch (err) {
      translateWriteError(err, 'managed_certificates', 'certificate');
    }
  }

  /** DELETE archives (soft): the record, its versions and its history stay. */
  async archive(actor: Principal, id: string): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      const cert = await this.lock(tx, id);
      if (cert.status === 'Archived') return;
      await tx.update(ManagedCertificateEntity, { id }, { status: 'Archived' });
      await this.audit.record(
        { actor, action: 'certificate_archived', resource_type: 'certificate', resource_id: id, details: { previous_status: cert.status } },
        tx,
      );
    });
  }

  async versions(id: string, query: PageQuery): Promise<Page<CertificateVersionEntity>> {
    await this.exists(id);
    const { page, perPage, offset } = pageOf(query);
    const [data, total] = await this.dataSource.manager.findAndCount(CertificateVersionEntity, {
      where: { certificate_id: id }, order: { created_at: 'DESC', id: 'DESC' }, skip: offset, take: perPage,
    });
    return { data, total, page, per_page: perPage };
  }

  /** Deployment jobs of this certificate, newest first. */
  async deployments(id: string, query: PageQuery): Promise<Page<JobEntity>> {
    await this.exists(id);
    const { page, perPage, offset } = pageOf(query);
    const [data, total] = await this.dataSource.manager.findAndCount(JobEntity, {
      where: { certificate_id: id, type: 'Deployment' }, order: { created_at: 'DESC', id: 'DESC' }, skip: offset, take: perPage,
    });
    return { data, total, page, per_page: perPage };
  }

  private async exists(id: string): Promise<void> {
    if (!(await this.dataSource.manager.exists(ManagedCertificateEntity, { where: { id } }))) {
      throw ApiError.notFound('certificate', id);
    }
  }

  private async lock(tx: EntityManager, id: string): Promise<ManagedCertificateEntity> {
    const cert = await tx.findOne(ManagedCertificateEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
    if (!cert) throw ApiError.notFound('certificate', id);
    return cert;
  }

  /** Replaces the certificate's target mapping; every target must exist (400 naming the first missing one). */
  private async mapTargets(tx: EntityManager, certificateId: string, targetIds: string[]): Promise<void> {
    const wanted = dedupe(targetIds);
    const found = wanted.length ? await tx.find(DeploymentTargetEntity, { select: { id: true }, where: { id: In(wanted) } }) : [];
    const known = new Set(found.map((t) => t.id));
    const missing = wanted.find((t) => !known.has(t));
    if (missing) throw ApiError.missingReference('target_ids', missing);
    await tx.delete(CertificateTargetMappingEntity, { certificate_id: certificateId });
    if (wanted.length) {
      await tx.insert(CertificateTargetMappingEntity, wanted.map((target_id) => ({ certificate_id: certificateId, target_id })));
    }
  }
}

function dedupe(values: string[]): string[] {
  return [...new Set(values)];
}
