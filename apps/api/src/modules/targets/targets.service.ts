import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AGENT_OUTBOUND_POLICY, APP_CONFIG, AppConfig, loadDeployConfig, withOutboundPolicy } from '@certctl/config';
import { DeploymentTargetEntity } from '@certctl/db';
import { connectorFor, messageOf, openTargetConfig, sealTargetConfig, TargetConfigError, validateTargetConfig } from '@certctl/deploy';
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
export class TargetsService {
  readonly crud: CrudResource<DeploymentTargetEntity>;
  private readonly commandTimeoutMs = loadDeployConfig().commandTimeoutMs;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: DeploymentTargetEntity, table: 'deployment_targets', resource: 'target', idKind: 'target', category: 'config',
      actions: { created: 'create_target', updated: 'update_target', deleted: 'delete_target' },
      filters: ['type', 'agent_id'], sortable: ['name', 'type', 'updated_at'], searchable: ['name'],
    });
  }

  /** A target may be registered before it is configured; a config that is given must be complete and safe (400 naming the field). */
  create(actor: Principal, body: CreateTargetDto): Promise<DeploymentTargetEntity> {
    if (body.config === undefined || body.config === null) return this.crud.create(actor, body as Partial<DeploymentTargetEntity>);
    checkConfig(body.type, body.config, body.agent_id);
    return this.crud.create(actor, { ...body, ...sealTargetConfig(body.type, body.config, this.config.pki.encryptionKey, null) } as Partial<DeploymentTargetEntity>);
  }

  /** Secrets (SSH password, private key) are stored encrypted; "********" sent back keeps the stored one. */
  async update(actor: Principal, id: string, body: UpdateTargetDto): Promise<DeploymentTargetEntity> {
    if (body.config === undefined || body.config === null) return this.crud.update(actor, id, body as Partial<DeploymentTargetEntity>);
    const current = await this.crud.get(id);
    checkConfig(current.type, body.config, body.agent_id === undefined ? current.agent_id : body.agent_id);
    const sealed = sealTargetConfig(current.type, body.config, this.config.pki.encryptionKey, await this.encryptedConfig(id));
    return this.crud.update(actor, id, { ...body, ...sealed } as Partial<DeploymentTargetEntity>);
  }

  private async encryptedConfig(id: string): Promise<Buffer | null> {
    const rows: Array<{ encrypted_config: Buffer | null }> = await this.dataSource.query('SELECT encrypted_config FROM deployment_targets WHERE id = $1', [id]);
    return rows[0]?.encrypted_config ?? null;
  }

  /**
   * Checks the config and, for an agentless target, runs the connector's dry run here (e.g. its validate command)
   * without changing anything. An agent's target gets the config check only: its dry run belongs on the agent's host.
   */
  async test(actor: Principal, id: string): Promise<TargetTestResult> {
    const target = await this.crud.get(id);
    let status: TargetTestResult['status'] = 'success';
    let message: string;
    try {
      const config = openTargetConfig(target.config, await this.encryptedConfig(id), this.config.pki.encryptionKey);
      validateUnderPolicy(target.type, config, target.agent_id);
      message = target.agent_id
        ? `config is valid; agent ${target.agent_id} runs the validate step when it deploys`
        : await connectorFor(target.type)!.validateOnly(config, { commandTimeoutMs: this.commandTimeoutMs });
    } catch (err) {
      status = 'failed';
      message = messageOf(err).slice(0, 2000);
    }
    const tested_at = new Date();
    await this.dataSource.transaction(async (tx) => {
      await tx.update(DeploymentTargetEntity, { id }, { test_status: status, last_tested_at: tested_at });
      await this.audit.record({ actor, action: 'test_target', resource_type: 'target', resource_id: id, event_category: 'config', details: { status, message } }, tx);
    });
    return { target_id: id, status, message, tested_at };
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
