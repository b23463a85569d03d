import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AgentEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { ApiKeysService } from '../../common/auth/api-keys.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { namedBinder } from '../../common/auth/visibility';
import type { Page } from '../../common/http/pagination';
import type { RowCondition } from '../../common/scope';
import { targetScopeSql } from '../targets/targets.service';
import { AgentQuery, HeartbeatDto, RegisterAgentDto } from './dto/agent.dto';

export type RegisteredAgent = AgentEntity & { api_key: string };

/** Stand-ins for server-side discovery sources; they are not hosts and cannot be retired. */
export const SENTINEL_AGENT_IDS: ReadonlySet<string> = new Set(['server-scanner', 'cloud-aws-sm', 'cloud-azure-kv', 'cloud-gcp-sm']);

/** What still depends on an agent, certctl's `counts`. */
export interface AgentDependencyCounts {
  active_targets: number;
  active_certificates: number;
  pending_jobs: number;
}

export interface AgentRetirement {
  retired_at: Date;
  already_retired: boolean;
  cascade: boolean;
  counts: AgentDependencyCounts;
}

const OPEN_JOB_STATUSES = ['Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running'];

@Injectable()
export class AgentsService {
  readonly crud: CrudResource<AgentEntity>;
  /** The soft-retired agents (GET /agents/retired); the main list shows only active ones, as certctl does. */
  readonly retired: CrudResource<AgentEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keys: ApiKeysService,
    private readonly audit: AuditService,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: AgentEntity, table: 'agents', resource: 'agent', idKind: 'agent', category: 'config',
      actions: { created: 'agent_registered', updated: 'agent_updated', deleted: 'agent_deleted' },
      filters: ['status'], sortable: ['name', 'status', 'last_heartbeat_at'], searchable: ['name', 'hostname'],
      listScope: 'r.retired_at IS NULL',
    });
    this.retired = new CrudResource(dataSource, audit, { ...this.crud.spec, listScope: 'r.retired_at IS NOT NULL', sortable: ['name', 'retired_at'] });
  }

  /**
   * certctl's soft retire (DELETE /agents/{id}): refused (409 with `counts`) while active targets, their
   * certificates or open jobs depend on the agent, unless `force` with a `reason`, which retires its targets and
   * cancels its open jobs in the same transaction. Retiring a retired agent again changes nothing.
   */
  /** The agents the caller may see (agent.read): for a scoped grant, those deploying to a target it may see. */
  list(actor: Principal, query: AgentQuery, retired = false): Promise<Page<AgentEntity>> {
    return (retired ? this.retired : this.crud).list(query, {}, agentVisibility(actor));
  }

  /** 404 for an agent outside the caller's scope; an agent key always reads its own agent. */
  get(actor: Principal, id: string): Promise<AgentEntity> {
    const self = actor.actor_type === 'Agent' && actor.agent_id === id;
    return this.crud.get(id, undefined, self ? undefined : agentVisibility(actor));
  }

  async retire(actor: Principal, id: string, force: boolean, reason: string | undefined): Promise<AgentRetirement> {
    if (SENTINEL_AGENT_IDS.has(id)) throw new ApiError(HttpStatus.FORBIDDEN, 'AGENT_IS_SENTINEL', `agent ${id} is a reserved sentinel and cannot be retired`);
    if (force && !reason?.trim()) throw ApiError.invalidField('reason', 'force=true requires a non-empty reason');
    return this.dataSource.transaction(async (tx) => {
      const agent = await this.crud.lock(tx, id);
      const counts = await this.dependencies(tx, id);
      if (agent.retired_at) return { retired_at: agent.retired_at, already_retired: true, cascade: false, counts };
      const blocked = counts.active_targets + counts.active_certificates + counts.pending_jobs > 0;
      if (blocked && !force) {
        throw new ApiError(HttpStatus.CONFLICT, 'BLOCKED_BY_DEPENDENCIES',
          'agent has active downstream dependencies; retire or reassign them first, or retry with ?force=true&reason=... to cascade', undefined, { counts });
      }
      const retiredAt = new Date();
      const retiredReason = reason?.trim() || null;
      if (blocked) {
        await tx.query(`UPDATE deployment_targets SET retired_at = $2, retired_reason = $3, enabled = false, updated_at = now()
                         WHERE agent_id = $1 AND retired_at IS NULL`, [id, retiredAt, `agent ${id} retired: ${retiredReason}`]);
        await tx.query(`UPDATE jobs SET status = 'Cancelled', completed_at = now(), last_error = $2, updated_at = now()
                         WHERE agent_id = $1 AND status = ANY($3)`, [id, `agent ${id} retired`, OPEN_JOB_STATUSES]);
      }
      await tx.update(AgentEntity, { id }, { retired_at: retiredAt, retired_reason: retiredReason, status: 'Offline' });
      await this.audit.record({ actor, action: 'agent_retired', resource_type: 'agent', resource_id: id, event_category: 'config',
        details: { reason: retiredReason, cascade: blocked, counts } }, tx);
      return { retired_at: retiredAt, already_retired: false, cascade: blocked, counts };
    });
  }

  private async dependencies(tx: EntityManager, agentId: string): Promise<AgentDependencyCounts> {
    const [row]: Array<AgentDependencyCounts> = await tx.query(`
      SELECT (SELECT count(*)::int FROM deployment_targets WHERE agent_id = $1 AND retired_at IS NULL) AS active_targets,
             (SELECT count(DISTINCT c.id)::int FROM managed_certificates c
                JOIN certificate_target_mappings m ON m.certificate_id = c.id
                JOIN deployment_targets t ON t.id = m.target_id AND t.agent_id = $1 AND t.retired_at IS NULL
               WHERE c.status NOT IN ('Archived', 'Revoked')) AS active_certificates,
             (SELECT count(*)::int FROM jobs WHERE agent_id = $1 AND status = ANY($2)) AS pending_jobs`, [agentId, OPEN_JOB_STATUSES]);
    return row!;
  }

  /**
   * Registers an agent and mints its own API key (role `agent`, bound to this agent id), returned once.
   * The key can only speak the agent protocol for this agent.
   */
  async register(actor: Principal, body: RegisterAgentDto): Promise<RegisteredAgent> {
    let secret = '';
    const agent = await this.crud.create(actor, body, async (tx, row) => {
      const created = await this.keys.create(actor, { name: `agent:${row.name}`, role: 'agent', agent_id: row.id }, tx);
      secret = created.secret;
    });
    return { ...agent, api_key: secret };
  }

  /**
   * Marks the agent Online with its host details. Only changes an operator needs are audited (the api-call
   * audit skips accepted heartbeats): the first heartbeat, the return of an agent marked Offline or Degraded,
   * and a new agent version. The row is locked so two concurrent heartbeats audit one transition once.
   */
  async heartbeat(actor: Principal, id: string, body: HeartbeatDto): Promise<AgentEntity> {
    const patch = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    // The fleet's steady state, in one statement (one round trip instead of five: the transaction, the lock, the
    // update, the re-read, the commit): an agent already Online whose heartbeat brings nothing to audit. The
    // conditions are re-checked on the row as it is once locked, so a concurrent change falls to the full path.
    const fast = await this.dataSource.createQueryBuilder().update(AgentEntity)
      .set({ ...patch, status: 'Online', last_heartbeat_at: new Date() })
      .where('id = :id AND retired_at IS NULL AND last_heartbeat_at IS NOT NULL AND status = \'Online\'', { id })
      .andWhere('(CAST(:version AS text) IS NULL OR version = \'\' OR version = :version)', { version: body.version ?? null })
      .returning('*')
      .execute();
    const row = (fast.raw as AgentEntity[])[0];
    if (row) return this.dataSource.manager.create(AgentEntity, row);
    return this.dataSource.transaction(async (tx) => {
      const agent = await this.crud.lock(tx, id);
      if (agent.retired_at) throw new ApiError(HttpStatus.GONE, 'AGENT_RETIRED', `agent ${id} is retired`);
      await tx.update(AgentEntity, { id }, { ...patch, status: 'Online', last_heartbeat_at: new Date() });
      const audit = (action: string, details: Record<string, unknown>) =>
        this.audit.record({ actor, action, resource_type: 'agent', resource_id: id, event_category: 'config', details }, tx);
      if (!agent.last_heartbeat_at) await audit('agent_first_heartbeat', { version: body.version ?? agent.version, hostname: body.hostname ?? agent.hostname });
      else if (agent.status !== 'Online') {
        await audit('agent_back_online', { previous_status: agent.status, last_heartbeat_at: agent.last_heartbeat_at.toISOString() });
      }
      // A version first reported with the first heartbeat is in that event already.
      if (body.version !== undefined && agent.version && body.version !== agent.version) {
        await audit('agent_version_changed', { from: agent.version, to: body.version });
      }
      return tx.findOneByOrFail(AgentEntity, { id });
    });
  }
}

/** Agents serving a target within the caller's agent.read scope (see targetVisibility); undefined when global. */
function agentVisibility(actor: Principal): RowCondition | undefined {
  const params: Record<string, unknown> = {};
  const targets = targetScopeSql(actor, 'agent.read', namedBinder(params, 'avis'), 'agt');
  if (targets === undefined) return undefined;
  return { sql: `EXISTS (SELECT 1 FROM deployment_targets agt WHERE agt.agent_id = r.id AND ${targets})`, params };
}
