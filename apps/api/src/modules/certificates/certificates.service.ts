import { sansWithCommonName } from '@certctl/pki';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { splitPemChain } from '@certctl/pki';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, In } from 'typeorm';
import {
  CertificateTargetMappingEntity, CertificateVersionEntity, DeploymentTargetEntity, issuanceJobOptions, JobEntity, JobProducer,
  ManagedCertificateEntity, newId,
} from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { Page, PageQuery, pageOf } from '../../common/http/pagination';
import { translateWriteError } from '../../common/http/write-errors';
import { PoliciesService } from '../policies/policies.service';
import { CertificatesRepository } from './certificates.repository';
import { RenewalJobs } from './renewal-jobs';
import { checkCertificate, checkCertificateLands } from './certificate-scope';
import { targetVisibility } from '../targets/targets.service';
import { CertificateQuery, CreateCertificateDto, UpdateCertificateDto } from './dto/certificate.dto';

export type CertificateView = ManagedCertificateEntity & { target_ids: string[] };

export interface RenewalTriggered {
  status: 'renewal_triggered';
  job_id: string;
  job_status: string;
  cancelled_job_ids: string[];
}

/** The current version's public material; never a private key. */
export interface PemExport {
  /** certctl's three fields: the leaf, its chain, and both concatenated. */
  cert_pem: string;
  chain_pem: string;
  full_pem: string;
  certificate_id: string;
  version_id: string;
  serial_number: string;
  fingerprint_sha256: string;
  not_after: Date;
}

const DEFAULT_RENEWAL_POLICY = 'rp-default';

@Injectable()
export class CertificatesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repository: CertificatesRepository,
    private readonly policies: PoliciesService,
    private readonly audit: AuditService,
    private readonly producer: JobProducer,
    private readonly renewals: RenewalJobs,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Opens an Issuance/Renewal job (RenewalJobs: 409 while one is open unless `force`, 409 for archived or revoked
   * certificates) and queues it after commit, unless the profile's approval gate holds it.
   */
  async renew(actor: Principal, id: string, force: boolean, correlationId: string): Promise<RenewalTriggered> {
    const opened = await this.dataSource.transaction(async (tx) => {
      const [locked]: Array<{ id: string; team_id: string | null; issuer_id: string; certificate_profile_id: string | null }> = await tx.query(
        'SELECT id, team_id, issuer_id, certificate_profile_id FROM managed_certificates WHERE id = $1 FOR UPDATE', [id]);
      if (!locked) throw ApiError.notFound('certificate', id);
      checkCertificate(actor, locked, 'cert.issue');
      const [outcome] = await this.renewals.open(tx, actor, [id], { force, bulk: false });
      if (outcome!.result === 'not_renewable') {
        throw ApiError.conflict('CERTIFICATE_NOT_RENEWABLE', `certificate ${id} is ${outcome!.certificate_status} and cannot be renewed`);
      }
      if (outcome!.result === 'in_progress') {
        const open = outcome!.open_jobs[0]!;
        throw ApiError.conflict('RENEWAL_IN_PROGRESS', `certificate ${id} already has ${open.type} job ${open.id} (${open.status}); use force to replace it`);
      }
      return outcome!;
    });
    const job = opened.job!;
    if (job.status === 'Pending') {
      const name = job.type === 'Issuance' ? 'certificate.issue' : 'certificate.renew';
      await this.producer.enqueue(name, { jobId: job.id, correlationId }, job.id, issuanceJobOptions(this.config, job));
    }
    return { status: 'renewal_triggered', job_id: job.id, job_status: job.status, cancelled_job_ids: opened.cancelled };
  }

  /** The newest version's certificate and chain (409 before the first issuance). */
  async exportPem(actor: Principal, id: string): Promise<PemExport> {
    await this.exists(actor, id);
    const version = await this.dataSource.manager.findOne(CertificateVersionEntity, { where: { certificate_id: id }, order: { created_at: 'DESC', id: 'DESC' } });
    if (!version) throw ApiError.conflict('CERTIFICATE_NOT_ISSUED', `certificate ${id} has no issued version yet`);
    const [leaf = '', ...chain] = splitPemChain(version.pem_chain);
    await this.audit.record({ actor, action: 'export_pem', resource_type: 'certificate', resource_id: id, details: { version_id: version.id } });
    return {
      certificate_id: id, version_id: version.id, serial_number: version.serial_number, fingerprint_sha256: version.fingerprint_sha256,
      not_after: version.not_after, cert_pem: leaf, chain_pem: chain.join(''), full_pem: version.pem_chain,
    };
  }

  /** A page of the inventory as the JSON text of its envelope (built by PostgreSQL; see CertificatesRepository), within the caller's scope. */
  listJson(actor: Principal, query: CertificateQuery): Promise<string> {
    return this.repository.listJson(query, actor);
  }

  /** One certificate for the caller: 404 when it is outside the caller's cert.read scope, as for an unknown id. */
  async view(actor: Principal, id: string): Promise<CertificateView> {
    const cert = await this.get(id);
    checkCertificate(actor, cert);
    return cert;
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
    checkCertificateLands(actor, 'cert.issue', fields);
    try {
      return await this.dataSource.transaction(async (tx) => {
        await tx.insert(ManagedCertificateEntity, {
          ...fields,
          id,
          // The CN is always a SAN: TLS clients match SANs only (RFC 6125), so a CN left out of them is unreachable.
          sans: fields.sans?.length ? sansWithCommonName(fields.common_name, dedupe(fields.sans)) : [],
          renewal_policy_id: fields.renewal_policy_id ?? DEFAULT_RENEWAL_POLICY,
          status: 'Pending',
        });
        if (targetIds) await this.mapTargets(tx, actor, id, targetIds);
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
    } finally {
      this.repository.invalidate();
    }
  }

  async update(actor: Principal, id: string, body: UpdateCertificateDto): Promise<CertificateView> {
    const { target_ids: targetIds, ...fields } = body;
    try {
      return await this.dataSource.transaction(async (tx) => {
        const current = await this.lock(tx, id);
        checkCertificate(actor, current, 'cert.edit');
        checkCertificateLands(actor, 'cert.edit', {
          team_id: fields.team_id === undefined ? current.team_id : fields.team_id,
          issuer_id: fields.issuer_id ?? current.issuer_id,
          certificate_profile_id: fields.certificate_profile_id === undefined ? current.certificate_profile_id : fields.certificate_profile_id,
        });
        if (current.status === 'Archived') {
          throw ApiError.conflict('CERTIFICATE_ARCHIVED', `certificate ${id} is archived and cannot be changed`);
        }
        const commonName = fields.common_name ?? current.common_name;
        const sans = fields.sans ?? (fields.common_name !== undefined ? current.sans : undefined);
        const patch = { ...fields, ...(sans?.length ? { sans: sansWithCommonName(commonName, dedupe(sans)) } : sans ? { sans } : {}) };
        const changed = Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined);
        if (changed.length) await tx.update(ManagedCertificateEntity, { id }, patch);
        if (targetIds) await this.mapTargets(tx, actor, id, targetIds);
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
    } finally {
      this.repository.invalidate();
    }
  }

  /** DELETE archives (soft): the record, its versions and its history stay. */
  async archive(actor: Principal, id: string): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      const cert = await this.lock(tx, id);
      checkCertificate(actor, cert, 'cert.delete');
      if (cert.status === 'Archived') return;
      await tx.update(ManagedCertificateEntity, { id }, { status: 'Archived' });
      await this.audit.record(
        { actor, action: 'certificate_archived', resource_type: 'certificate', resource_id: id, details: { previous_status: cert.status } },
        tx,
      );
    });
    this.repository.invalidate();
  }

  async versions(actor: Principal, id: string, query: PageQuery): Promise<Page<CertificateVersionEntity>> {
    await this.exists(actor, id);
    const { page, perPage, offset } = pageOf(query);
    const [data, total] = await this.dataSource.manager.findAndCount(CertificateVersionEntity, {
      where: { certificate_id: id }, order: { created_at: 'DESC', id: 'DESC' }, skip: offset, take: perPage,
    });
    return { data, total, page, per_page: perPage };
  }

  /** Deployment jobs of this certificate, newest first. */
  async deployments(actor: Principal, id: string, query: PageQuery): Promise<Page<JobEntity>> {
    await this.exists(actor, id);
    const { page, perPage, offset } = pageOf(query);
    const [data, total] = await this.dataSource.manager.findAndCount(JobEntity, {
      where: { certificate_id: id, type: 'Deployment' }, order: { created_at: 'DESC', id: 'DESC' }, skip: offset, take: perPage,
    });
    return { data, total, page, per_page: perPage };
  }

  /** 404 unless the certificate exists within the caller's cert.read scope. */
  private async exists(actor: Principal, id: string): Promise<void> {
    const cert = await this.dataSource.manager.findOne(ManagedCertificateEntity, {
      select: { id: true, team_id: true, issuer_id: true, certificate_profile_id: true }, where: { id },
    });
    if (!cert) throw ApiError.notFound('certificate', id);
    checkCertificate(actor, cert);
  }

  private async lock(tx: EntityManager, id: string): Promise<ManagedCertificateEntity> {
    const cert = await tx.findOne(ManagedCertificateEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
    if (!cert) throw ApiError.notFound('certificate', id);
    return cert;
  }

  /**
   * Replaces the certificate's target mapping; every target must exist and be visible to the caller (400 naming
   * the first missing one: a target outside its scope is reported as unknown, not revealed).
   */
  private async mapTargets(tx: EntityManager, actor: Principal, certificateId: string, targetIds: string[]): Promise<void> {
    const wanted = dedupe(targetIds);
    const visible = targetVisibility(actor, 'target.read');
    const found = !wanted.length ? [] : visible
      ? await tx.createQueryBuilder(DeploymentTargetEntity, 'r').select('r.id').where({ id: In(wanted) }).andWhere(visible.sql, visible.params).getMany()
      : await tx.find(DeploymentTargetEntity, { select: { id: true }, where: { id: In(wanted) } });
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
