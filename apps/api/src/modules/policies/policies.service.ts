import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { PolicyRuleType } from '@certctl/contracts';
import {
  CertificateProfileEntity, ManagedCertificateEntity, newId, PolicyRuleEntity, PolicyViolationEntity, RenewalPolicyEntity,
} from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { Page, PageQuery, pageOf } from '../../common/http/pagination';
import { viaCertificate } from '../certificates/certificate-scope';
import { CreatePolicyDto, UpdatePolicyDto } from './dto/policy.dto';
import { configProblem, evaluatePolicies } from './policy-evaluator';

@Injectable()
export class PoliciesService {
  readonly crud: CrudResource<PolicyRuleEntity>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: PolicyRuleEntity, table: 'policy_rules', resource: 'policy', idKind: 'policyRule', category: 'config',
      actions: { created: 'policy_rule_created', updated: 'policy_rule_updated', deleted: 'policy_rule_deleted' },
      filters: ['type', 'severity'], sortable: ['name', 'type', 'severity', 'updated_at'], searchable: ['name'],
    });
  }

  create(actor: Principal, body: CreatePolicyDto): Promise<PolicyRuleEntity> {
    checkConfig(body.type as PolicyRuleType, body.config);
    return this.crud.create(actor, body as Partial<PolicyRuleEntity>);
  }

  async update(actor: Principal, id: string, body: UpdatePolicyDto): Promise<PolicyRuleEntity> {
    if (body.type !== undefined || body.config !== undefined) {
      const current = await this.crud.get(id);
      checkConfig((body.type ?? current.type) as PolicyRuleType, body.config ?? current.config);
    }
    return this.crud.update(actor, id, body as Partial<PolicyRuleEntity>);
  }

  /** A rule's violations, of the certificates the caller may see (policy.read), counted the same way. */
  async violations(actor: Principal, ruleId: string, query: PageQuery): Promise<Page<PolicyViolationEntity>> {
    await this.crud.get(ruleId);
    const { page, perPage, offset } = pageOf(query);
    const qb = this.dataSource.createQueryBuilder(PolicyViolationEntity, 'r').where('r.rule_id = :ruleId', { ruleId });
    const scope = viaCertificate(actor, 'policy.read');
    if (scope) qb.andWhere(scope.sql, scope.params);
    const [data, total] = await qb.orderBy('r.created_at', 'DESC').addOrderBy('r.id', 'DESC').offset(offset).limit(perPage).getManyAndCount();
    return { data, total, page, per_page: perPage };
  }

  /**
   * Evaluates every enabled rule against a certificate inside the caller's transaction, replacing that
   * certificate's earlier violations. Violations are recorded and audited; they never block the change.
   */
  async evaluate(tx: EntityManager, actor: Principal, cert: ManagedCertificateEntity): Promise<PolicyViolationEntity[]> {
    const rules = await tx.find(PolicyRuleEntity, { where: { enabled: true }, order: { id: 'ASC' } });
    await tx.delete(PolicyViolationEntity, { certificate_id: cert.id });
    if (!rules.length) return [];
    const policy = await tx.findOne(RenewalPolicyEntity, { where: { id: cert.renewal_policy_id } });
    const profileId = cert.certificate_profile_id ?? policy?.certificate_profile_id ?? null;
    const profile = profileId ? await tx.findOne(CertificateProfileEntity, { where: { id: profileId } }) : null;
    const findings = evaluatePolicies(
      {
        common_name: cert.common_name, sans: cert.sans, environment: cert.environment, issuer_id: cert.issuer_id,
        tags: cert.tags ?? {}, renewal_window_days: policy?.renewal_window_days ?? 30,
        profile_max_ttl_seconds: profile?.max_ttl_seconds ?? null,
      },
      rules,
    );
    const violations = findings.map((f) =>
      tx.create(PolicyViolationEntity, { id: newId('violation'), certificate_id: cert.id, ...f }),
    );
    if (violations.length) {
      await tx.insert(PolicyViolationEntity, violations);
      await this.audit.record(
        { actor, action: 'policy_violation_detected', resource_type: 'certificate', resource_id: cert.id,
          details: { violations: findings.map((f) => ({ rule_id: f.rule_id, severity: f.severity })) } },
        tx,
      );
    }
    return violations;
  }
}

function checkConfig(type: PolicyRuleType, config: Record<string, unknown>): void {
  const problem = configProblem(type, config);
  if (problem) throw ApiError.invalidField('config', problem);
}
