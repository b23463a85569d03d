import { randomUUID } from 'node:crypto';
import { HttpStatus, Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { QueueEvents } from 'bullmq';
import { DataSource } from 'typeorm';
import { Queue, TARGET_TEST_JOB_OPTIONS, TargetTestOutcome } from '@certctl/contracts';
import { AGENT_OUTBOUND_POLICY, APP_CONFIG, AppConfig, DeployConfig, loadDeployConfig, withOutboundPolicy } from '@certctl/config';
import { DeploymentTargetEntity, JobProducer } from '@certctl/db';
import { messageOf, openTargetConfig, sealTargetConfig, TargetConfigError, useDeployPolicy, validateTargetConfig } from '@certctl/deploy';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { namedBinder, visibilityOf, visibilitySql } from '../../common/auth/visibility';
import { ApiError } from '../../common/http/api-error';
import type { Page } from '../../common/http/pagination';
import { CrudResource } from '../../common/crud-resource';
import { checkLandsInScope, RowCondition } from '../../common/scope';
import { CreateTargetDto, TargetQuery, UpdateTargetDto } from './dto/target.dto';

/**
 * The targets a caller may see for `permission`: those of its teams, and those mapped to a certificate its grants
 * reach (by the certificate's team, issuer or profile). Undefined when its grant is global.
 */
export function targetVisibility(principal: Principal | undefined, permission: string, alias = 'r'): RowCondition | undefined {
  const params: Record<string, unknown> = {};
  const sql = targetScopeSql(principal, permission, namedBinder(params, 'tvis'), alias);
  return sql === undefined ? undefined : { sql, params };
}

/** targetVisibility's condition as SQL text, its parameters bound by `bind` (positional or named). */
export function targetScopeSql(principal: Principal | undefined, permission: string, bind: (value: unknown) => string, alias = 'r'): string | undefined {
  const visibility = visibilityOf(principal, permission);
  const own = visibilitySql(visibility, { team: `${alias}.team_id` }, bind);
  if (own === undefined || visibility.kind === 'none') return own;
  const viaCertificate = visibilitySql(visibility, { team: 'vc.team_id', issuer: 'vc.issuer_id', profile: 'vc.certificate_profile_id' }, bind);
  const mapped = `EXISTS (SELECT 1 FROM certificate_target_mappings vm JOIN managed_certificates vc ON vc.id = vm.certificate_id
                           WHERE vm.target_id = ${alias}.id AND ${viaCertificate})`;
  return own === 'FALSE' ? mapped : `(${own} OR ${mapped})`;
}

/** Writes reach only the targets of the caller's own teams (a shared target is changed by someone whose grant covers it). */
function targetWriteScope(principal: Principal | undefined, permission: string): RowCondition | undefined {
  const params: Record<string, unknown> = {};
  const sql = visibilitySql(visibilityOf(principal, permission), { team: 'r.team_id' }, namedBinder(params, 'twr'));
  return sql === undefined ? undefined : { sql, params };
}

export interface TargetTestResult {
  target_id: string;
  status: 'success' | 'failed';
  message: string;
  tested_at: Date;
}

@Injectable()
export class TargetsService implements OnModuleDestroy {
  readonly crud: CrudResource<DeploymentTargetEntity>;
  private readonly logger = new Logger(TargetsService.name);
  private readonly settings: DeployConfig = loadDeployConfig();
  /** Completion events of the deploy queue, opened on the first target test (one connection per api process). */
  private queueEvents: Promise<QueueEvents> | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {
    // Target configs are checked here against the same commands and directories the deploying processes allow
    // (the command user matters only where commands run: the api runs none).
    useDeployPolicy({ commandAllowlist: this.settings.commandAllowlist, allowedRoots: this.settings.allowedRoots });
    this.crud = new CrudResource(dataSource, audit, {
      entity: DeploymentTargetEntity, table: 'deployment_targets', resource: 'target', idKind: 'target', category: 'config',
      actions: { created: 'create_target', updated: 'update_target', deleted: 'delete_target' },
      filters: ['type', 'agent_id', 'team_id'], sortable: ['name', 'type', 'updated_at'], searchable: ['name'],
    });
  }

  /** The targets the caller may see (target.read), counted the same way. */
  list(actor: Principal, query: TargetQuery): Promise<Page<DeploymentTargetEntity>> {
    return this.crud.list(query, {}, targetVisibility(actor, 'target.read'));
  }

  /** 404 for a target outside the caller's scope, as for one that does not exist. */
  get(actor: Principal, id: string): Promise<DeploymentTargetEntity> {
    return this.crud.get(id, undefined, targetVisibility(actor, 'target.read'));
  }

  /**
   * A target may be registered before it is configured; a config that is given must be complete and safe (400 naming the field).
   * A team-scoped caller creates targets in one of its teams only (403 naming team_id).
   */
  create(actor: Principal, body: CreateTargetDto): Promise<DeploymentTargetEntity> {
    checkLandsInScope(actor, 'target.edit', { team_id: body.team_id ?? null }, { team: 'team_id' });
    if (body.config === undefined || body.config === null) return this.crud.create(actor, body as Partial<DeploymentTargetEntity>);
    checkConfig(body.type, body.config, body.agent_id);
    return this.crud.create(actor, { ...body, ...sealTargetConfig(body.type, body.config, this.config.pki.encryptionKey, null) } as Partial<DeploymentTargetEntity>);
  }

  /** Secrets (SSH password, private key) are stored encrypted; "********" sent back keeps the stored one. */
  async update(actor: Principal, id: string, body: UpdateTargetDto): Promise<DeploymentTargetEntity> {
    await this.checkWritable(actor, id, 'target.edit');
    if (body.team_id !== undefined) checkLandsInScope(actor, 'target.edit', { team_id: body.team_id }, { team: 'team_id' });
    const writable = targetWriteScope(actor, 'target.edit');
    if (body.config === undefined || body.config === null) return this.crud.update(actor, id, body as Partial<DeploymentTargetEntity>, undefined, writable);
    const current = await this.crud.get(id);
    checkConfig(current.type, body.config, body.agent_id === undefined ? current.agent_id : body.agent_id);
    const sealed = sealTargetConfig(current.type, body.config, this.config.pki.encryptionKey, await this.encryptedConfig(id));
    return this.crud.update(actor, id, { ...body, ...sealed } as Partial<DeploymentTargetEntity>, undefined, writable);
  }

  async remove(actor: Principal, id: string): Promise<void> {
    await this.checkWritable(actor, id, 'target.delete');
    return this.crud.remove(actor, id, targetWriteScope(actor, 'target.delete'));
  }

  /** 404 when the caller cannot see the target, 403 when it can but `permission` does not reach the target's team. */
  private async checkWritable(actor: Principal, id: string, permission: string): Promise<void> {
    await this.crud.get(id, undefined, targetVisibility(actor, 'target.read'));
    if (!(await this.crud.matches(this.dataSource.manager, id, targetWriteScope(actor, permission)))) {
      throw new ApiError(HttpStatus.FORBIDDEN, 'FORBIDDEN', `${permission} on target ${id} is outside your grants (it belongs to another team or to none)`);
    }
  }

  private async encryptedConfig(id: string): Promise<Buffer | null> {
    const rows: Array<{ encrypted_config: Buffer | null }> = await this.dataSource.query('SELECT encrypted_config FROM deployment_targets WHERE id = $1', [id]);
    return rows[0]?.encrypted_config ?? null;
  }

  /**
   * Checks the config and, for an agentless target, has the orchestrator run the connector's dry run (e.g. its
   * validate command) without changing anything; the api itself never runs a config command. An agent's target
   * gets the config check only: its dry run belongs on the agent's host, which applies its own allow-list. When no
   * orchestrator answers within CERTCTL_DEPLOY_TEST_TIMEOUT_SECONDS the answer is "failed", saying so.
   */
  async test(actor: Principal, id: string, correlationId?: string): Promise<TargetTestResult> {
    await this.checkWritable(actor, id, 'target.edit');
    const target = await this.crud.get(id);
    let outcome: TargetTestOutcome;
    try {
      const config = openTargetConfig(target.config, await this.encryptedConfig(id), this.config.pki.encryptionKey);
      validateUnderPolicy(target.type, config, target.agent_id);
      outcome = target.agent_id
        ? { status: 'success', message: `config is valid; agent ${target.agent_id} runs the validate step when it deploys` }
        : await this.testWhereDeploysRun(id, correlationId);
    } catch (err) {
      outcome = { status: 'failed', message: messageOf(err).slice(0, 2000) };
    }
    const { status, message } = outcome;
    const tested_at = new Date();
    await this.dataSource.transaction(async (tx) => {
      await tx.update(DeploymentTargetEntity, { id }, { test_status: status, last_tested_at: tested_at });
      await this.audit.record({ actor, action: 'test_target', resource_type: 'target', resource_id: id, event_category: 'config', details: { status, message } }, tx);
    });
    return { target_id: id, status, message, tested_at };
  }

  /** Queues a `target.test` job for the orchestrator and waits for its outcome, at most the test timeout. */
  private async testWhereDeploysRun(targetId: string, correlationId?: string): Promise<TargetTestOutcome> {
    const events = await this.deployQueueEvents();
    const job = await this.producer.enqueue('target.test', { targetId, correlationId }, randomUUID(), TARGET_TEST_JOB_OPTIONS);
    const seconds = this.settings.testTimeoutMs / 1000;
    try {
      return (await job.waitUntilFinished(events, this.settings.testTimeoutMs)) as TargetTestOutcome;
    } catch (err) {
      if (!/timed out/i.test(messageOf(err))) return { status: 'failed', message: `the test job failed: ${messageOf(err).slice(0, 500)}` };
      // Not taken yet: removed, so it never runs after this answer. Taken but slow: it finishes unobserved.
      const removed = await job.remove().then(() => true, () => false);
      return {
        status: 'failed',
        message: removed
          ? `not tested: no orchestrator took the test within ${seconds} s (is the orchestrator running?)`
          : `the test did not finish within ${seconds} s`,
      };
    }
  }

  private deployQueueEvents(): Promise<QueueEvents> {
    this.queueEvents ??= (async () => {
      const events = new QueueEvents(Queue.Deploy, {
        connection: { url: this.config.redis.url, maxRetriesPerRequest: null },
        prefix: this.config.redis.queuePrefix,
      });
      events.on('error', (err) => this.logger.warn({ err: err.message }, 'deploy queue events'));
      await events.waitUntilReady();
      return events;
    })().catch((err: unknown) => {
      this.queueEvents = undefined; // the next test tries again
      throw err;
    });
    return this.queueEvents;
  }

  async onModuleDestroy(): Promise<void> {
    const events = await this.queueEvents?.catch(() => undefined);
    await events?.close();
  }
}

/**
 * An agent's target is dialled from the agent's host, so its loopback and private addresses are that host's, not
 * this server's (the agent checks them again when it connects); metadata and link-local are refused either way.
 * An agentless target is dialled from here, under this server's outbound policy.
 */
function validateUnderPolicy(type: string, config: Record<string, unknown>, agentId: string | null | undefined): void {
  if (agentId) withOutboundPolicy(AGENT_OUTBOUND_POLICY, () => validateTargetConfig(type, config));
  else validateTargetConfig(type, config);
}

function checkConfig(type: string, config: Record<string, unknown>, agentId: string | null | undefined): void {
  try {
    validateUnderPolicy(type, config, agentId);
  } catch (err) {
    if (!(err instanceof TargetConfigError)) throw err;
    throw ApiError.invalidField(err.field === 'type' ? 'type' : `config.${err.field}`, err.problem);
  }
}
