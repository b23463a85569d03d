import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query } from '@nestjs/common';
import { Returns, pageOf } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { AgentGroupMemberEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { CrudController } from '../../common/crud.controller';
import { Page, PageQuery } from '../../common/http/pagination';
import { CurrentPrincipal } from '../../common/http/request';
import { AgentGroupMember, AgentGroupsService } from './agent-groups.service';
import { AgentGroupMemberDto, AgentGroupQuery, CreateAgentGroupDto, UpdateAgentGroupDto } from './dto/agent-group.dto';
import { Schemas } from '../../common/openapi/resources';
import { RequirePermission } from '../../common/auth/permission.decorator';

export class AgentGroupsController extends CrudController({
  path: 'agent-groups', tag: 'agent-groups', service: AgentGroupsService,
  createDto: CreateAgentGroupDto, updateDto: UpdateAgentGroupDto, queryDto: AgentGroupQuery, resource: Schemas.AgentGroup,
  permissions: { read: 'agent.read', edit: 'agent.edit', delete: 'agent.edit' },
}) {}

/** Who is in a group (certctl's /members), and the manual overrides that shape it. */
@ApiTags('agent-groups')
@ApiBearerAuth()
@Controller('agent-groups')
export class AgentGroupMembersController {
  constructor(private readonly groups: AgentGroupsService) {}

  @Get(':id/members')
  @Returns(pageOf(Schemas.AgentGroupMember))
  @RequirePermission('agent.read')
  members(@Param('id') id: string, @Query() query: PageQuery): Promise<Page<AgentGroupMember>> {
    return this.groups.members(id, query);
  }

  @Get(':id/overrides')
  @Returns({ type: 'array', items: Schemas.AgentGroupOverride })
  @RequirePermission('agent.read')
  overrides(@Param('id') id: string): Promise<AgentGroupMemberEntity[]> {
    return this.groups.overrides(id);
  }

  /** Always include (or, with membership_type exclude, never include) an agent. */
  @Put(':id/overrides')
  @Returns(Schemas.AgentGroupOverride)
  @RequirePermission('agent.edit')
  setOverride(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: AgentGroupMemberDto): Promise<AgentGroupMemberEntity> {
    return this.groups.setOverride(actor, id, body);
  }

  @Delete(':id/overrides/:agentId')
  @HttpCode(204)
  @RequirePermission('agent.edit')
  removeOverride(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Param('agentId') agentId: string): Promise<void> {
    return this.groups.removeOverride(actor, id, agentId);
  }
}
