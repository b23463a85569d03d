import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { IssuerEntity } from '@certctl/db';
import { budgetRemaining, effectiveRateLimits, IssuerConnectors, issuerConfigProblem, RateLimit, sealIssuerConfig } from '@certctl/issuers';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { CreateIssuerDto, UpdateIssuerDto } from './dto/issuer.dto';

export interface IssuerTestResult {
  status: 'success' | 'failed';
  message: string;
  tested_at: string;
}

/** An issuer's budget now: each limit it is held to, where the limit comes from, and what is left in its window. */
export interface IssuerBudgetView {
  issuer_id: string;
  /** `declared` (config.rate_limits), `ca_default` (its CA's published limits, by directory URL) or `none`. */
  source: 'declared' | 'ca_default' | 'none';
  limits: Array<RateLimit & { remaining: number }>;
  measured_at: string;
}

@Injectable()
export class IssuersService {
  readonly crud: CrudResource<IssuerEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly connectors: IssuerConnectors,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: IssuerEntity, table: 'issuers', resource: 'issuer', idKind: 'issuer', category: 'config',
      actions: { created: 'create_issuer', updated: 'update_issuer', deleted: 'delete_issuer' },
      filters: ['type'], sortable: ['name', 'type', 'updated_at'], searchable: ['name'],
    });
  }

  /** The config is checked for the issuer type (400 naming the field) and its secrets are stored encrypted. */
  create(actor: Principal, body: CreateIssuerDto): Promise<IssuerEntity> {
    const sealed = this.seal(body.type, body.config ?? {}, null);
    return this.crud.create(actor, { ...body, ...sealed });
  }

  async update(actor: Principal, id: string, body: UpdateIssuerDto): Promise<IssuerEntity> {
    if (body.config === undefined) return this.crud.update(actor, id, body);
    const current = await this.dataSource.manager.findOne(IssuerEntity, { where: { id }, select: { id: true, type: true, encrypted_config: true } });
    if (!current) throw ApiError.notFound('issuer', id);
    return this.crud.update(actor, id, { ...body, ...this.seal(current.type, body.config, current.encrypted_config) });
  }

  /** Tries the issuer (CA reachable, credentials and CA material usable) and records the outcome. */
  async test(actor: Principal, id: string): Promise<IssuerTestResult> {
    await this.crud.get(id);
    let result: IssuerTestResult;
    try {
      const { connector } = await this.connectors.forIssuer(id);
      result = { status: 'success', message: await connector.test(), tested_at: new Date().toISOString() };
    } catch (err) {
      result = { status: 'failed', message: err instanceof Error ? err.message : String(err), tested_at: new Date().toISOString() };
    }
    await this.dataSource.transaction(async (tx) => {
      await tx.update(IssuerEntity, { id }, { test_status: result.status, last_tested_at: new Date(result.tested_at) });
      await this.audit.record({ actor, action: 'issuer_tested', resource_type: 'issuers', resource_id: id, event_category: 'config', details: { status: result.status } }, tx);
    });
    return result;
  }

  /** The limits the orchestrators hold this issuer to and what is left of each (for a per-domain limit, in its busiest domain). */
  async budget(id: string): Promise<IssuerBudgetView> {
    const issuer = await this.dataSource.manager.findOne(IssuerEntity, { where: { id }, select: { id: true, type: true, config: true } });
    if (!issuer) throw ApiError.notFound('issuer', id);
    const limits = effectiveRateLimits(issuer.type, issuer.config);
    const now = Date.now();
    const remaining = await budgetRemaining(this.dataSource, [{ id, limits }], now);
    return {
      issuer_id: id,
      source: Array.isArray(issuer.config?.rate_limits) ? 'declared' : limits.length ? 'ca_default' : 'none',
      limits: limits.map((l, i) => ({ name: l.name, limit: l.limit, window_seconds: l.window_seconds, per: l.per, remaining: remaining[i]!.remaining })),
      measured_at: new Date(now).toISOString(),
    };
  }

  private seal(type: string, config: Record<string, unknown>, previous: Buffer | null) {
    const problem = issuerConfigProblem(type, config);
    if (problem) throw ApiError.invalidField(problem.field, problem.message);
    try {
      return sealIssuerConfig(type, config, this.config.pki.encryptionKey, { encrypted: previous });
    } catch (err) {
      throw new ApiError(HttpStatus.CONFLICT, 'ENCRYPTION_KEY_MISSING', (err as Error).message);
    }
  }
}
