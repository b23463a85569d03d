import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { AgentEntity } from '@certctl/db';
import { RequireAccess } from '../../common/auth/access.decorator';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal } from '../../common/http/request';
import { AgentsService, RegisteredAgent } from './agents.service';
import { AgentQuery, HeartbeatDto, RegisterAgentDto } from './dto/agent.dto';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  list(@Query() query: AgentQuery): Promise<Page<AgentEntity>> {
    return this.agents.crud.list(query);
  }

  /** Registers an agent; the response carries its API key, shown this once. */
  @Post()
  register(@CurrentPrincipal() actor: Principal, @Body() body: RegisterAgentDto): Promise<RegisteredAgent> {
    return this.agents.register(actor, body);
  }

  @Get(':id')
  @RequireAccess('agent-self')
  get(@Param('id') id: string): Promise<AgentEntity> {
    return this.agents.crud.get(id);
  }

  @Post(':id/heartbeat')
  @HttpCode(200)
  @RequireAccess('agent-self')
  heartbeat(@Param('id') id: string, @Body() body: HeartbeatDto): Promise<AgentEntity> {
    return this.agents.heartbeat(id, body);
  }
}
