import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { QueueEvents } from 'bullmq';
import { DataSource } from 'typeorm';
import { Queue, TARGET_TEST_JOB_OPTIONS, TargetTestOutcome } from '@certctl/contracts';
import { APP_CONFIG, AppConfig, DeployConfig, loadDeployConfig } from '@certctl/config';
import { DeploymentTargetEntity, JobProducer } from '@certctl/db';
import { messageOf, openTargetConfig, sealTargetConfig, TargetConfigError, useDeployPolicy, validateTargetConfig } from '@certctl/deploy';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { CrudResource } from '../../common/crud-resource';
import { CreateTargetDto, UpdateTargetDto } from './dto/target.dto';

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
      filters: ['type', 'agent_id'], sortable: ['name', 'type', 'updated_at'], searchable: ['name'],
    });
  }

  /** A target may be registered before it is configured; a config that is given must be complete and safe (400 naming the field). */
  create(actor: Principal, body: CreateTargetDto): Promise<DeploymentTargetEntity> {
    if (body.config === undefined || body.config === null) return this.crud.create(actor, body as Partial<DeploymentTargetEntity>);
    checkConfig(body.type, body.config);
    return this.crud.create(actor, { ...body, ...sealTargetConfig(body.type, body.config, this.config.pki.encryptionKey, null) } as Partial<DeploymentTargetEntity>);
  }

  /** Secrets (SSH password, private key) are stored encrypted; "********" sent back keeps the stored one. */
  async update(actor: Principal, id: string, body: UpdateTargetDto): Promise<DeploymentTargetEntity> {
    if (body.config === undefined || body.config === null) return this.crud.update(actor, id, body as Partial<DeploymentTargetEntity>);
    const current = await this.crud.get(id);
    checkConfig(current.type, body.config);
    const sealed = sealTargetConfig(current.type, body.config, this.config.pki.encryptionKey, await this.encryptedConfig(id));
    return this.crud.update(actor, id, { ...body, ...sealed } as Partial<DeploymentTargetEntity>);
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
    const target = await this.crud.get(id);
    let outcome: TargetTestOutcome;
    try {
      const config = openTargetConfig(target.config, await this.encryptedConfig(id), this.config.pki.encryptionKey);
      validateTargetConfig(target.type, config);
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

function checkConfig(type: string, config: Record<string, unknown>): void {
  try {
    validateTargetConfig(type, config);
  } catch (err) {
    if (!(err instanceof TargetConfigError)) throw err;
    throw ApiError.invalidField(err.field === 'type' ? 'type' : `config.${err.field}`, err.problem);
  }
}
