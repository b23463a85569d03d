import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AgentEntity } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import { ApiKeysService } from '../../common/auth/api-keys.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { HeartbeatDto, RegisterAgentDto } from './dto/agent.dto';

export type RegisteredAgent = AgentEntity & { api_key: string };

@Injectable()
export class AgentsService {
  readonly crud: CrudResource<AgentEntity>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    audit: AuditService,
    private readonly keys: ApiKeysService,
  ) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: AgentEntity, table: 'agents', resource: 'agent', idKind: 'agent', category: 'config',
      actions: { created: 'agent_registered', updated: 'agent_updated', deleted: 'agent_deleted' },
      filters: ['status'], sortable: ['name', 'status', 'last_heartbeat_at'], searchable: ['name', 'hostname'],
    });
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

  async heartbeat(id: string, body: HeartbeatDto): Promise<AgentEntity> {
    const agent = await this.crud.get(id);
    if (agent.retired_at) throw new ApiError(HttpStatus.GONE, 'AGENT_RETIRED', `agent ${id} is retired`);
    const patch = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    await this.dataSource.manager.update(AgentEntity, { id }, { ...patch, status: 'Online', last_heartbeat_at: new Date() });
    return this.crud.get(id);
  }
}
