import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AgentEntity, AgentGroupEntity, AgentGroupMemberEntity, agentGroupMembershipSql } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { CrudResource } from '../../common/crud-resource';
import { ApiError } from '../../common/http/api-error';
import { Page, PageQuery, pageOf } from '../../common/http/pagination';
import { translateWriteError } from '../../common/http/write-errors';
import { AgentGroupMemberDto } from './dto/agent-group.dto';

/** An agent in a group, and why: matched by the criteria, or named by a manual include. */
export type AgentGroupMember = AgentEntity & { membership: 'dynamic' | 'include' };

/** Membership of the one group $1, by the shared definition (libs/db agent-groups). */
const MEMBERS_SQL = `WITH matched AS (${agentGroupMembershipSql('g.id = $1')})`;

@Injectable()
export class AgentGroupsService {
  readonly crud: CrudResource<AgentGroupEntity>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly audit: AuditService) {
    this.crud = new CrudResource(dataSource, audit, {
      entity: AgentGroupEntity, table: 'agent_groups', resource: 'agent group', idKind: 'agentGroup', category: 'config',
      actions: { created: 'agent_group_created', updated: 'agent_group_updated', deleted: 'agent_group_deleted' },
      filters: ['enabled'], sortable: ['name', 'updated_at'], searchable: ['name', 'description'],
    });
  }

  /** GET /agent-groups/{id}/members: the agents in the group now, in name order. */
  async members(id: string, query: PageQuery): Promise<Page<AgentGroupMember>> {
    await this.crud.get(id);
    const { page, perPage, offset } = pageOf(query);
    const [data, [count]] = await Promise.all([
      this.dataSource.query<AgentGroupMember[]>(
        `${MEMBERS_SQL} SELECT a.*, m.membership FROM matched m JOIN agents a ON a.id = m.agent_id ORDER BY a.name, a.id LIMIT $2 OFFSET $3`,
        [id, perPage, offset],
      ),
      this.dataSource.query<Array<{ n: number }>>(`${MEMBERS_SQL} SELECT count(*)::int AS n FROM matched`, [id]),
    ]);
    return { data, total: count?.n ?? 0, page, per_page: perPage };
  }

  /** The manual overrides of a group (includes and excludes). */
  async overrides(id: string): Promise<AgentGroupMemberEntity[]> {
    await this.crud.get(id);
    return this.dataSource.manager.find(AgentGroupMemberEntity, { where: { agent_group_id: id }, order: { agent_id: 'ASC' } });
  }

  /** Adds or changes a manual include/exclude; an unknown agent is a 400 naming agent_id. */
  async setOverride(actor: Principal, id: string, body: AgentGroupMemberDto): Promise<AgentGroupMemberEntity> {
    const membershipType = (body.membership_type ?? 'include') as AgentGroupMemberEntity['membership_type'];
    try {
      return await this.dataSource.transaction(async (tx) => {
        await this.crud.lock(tx, id);
        await tx.query(
          `INSERT INTO agent_group_members (agent_group_id, agent_id, membership_type) VALUES ($1, $2, $3)
           ON CONFLICT (agent_group_id, agent_id) DO UPDATE SET membership_type = EXCLUDED.membership_type`,
          [id, body.agent_id, membershipType],
        );
        await this.audit.record({ actor, action: 'agent_group_member_set', resource_type: 'agent_groups', resource_id: id, event_category: 'config',
          details: { agent_id: body.agent_id, membership_type: membershipType } }, tx);
        return tx.findOneByOrFail(AgentGroupMemberEntity, { agent_group_id: id, agent_id: body.agent_id });
      });
    } catch (err) {
      translateWriteError(err, 'agent_group_members', 'agent group member');
    }
  }

  async removeOverride(actor: Principal, id: string, agentId: string): Promise<void> {
    await this.dataSource.transaction(async (tx: EntityManager) => {
      await this.crud.lock(tx, id);
      const removed = await tx.delete(AgentGroupMemberEntity, { agent_group_id: id, agent_id: agentId });
      if (!removed.affected) throw ApiError.notFound('agent group member', agentId);
      await this.audit.record({ actor, action: 'agent_group_member_removed', resource_type: 'agent_groups', resource_id: id, event_category: 'config',
        details: { agent_id: agentId } }, tx);
    });
  }
}
