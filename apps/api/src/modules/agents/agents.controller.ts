import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { AgentEntity } from '@certctl/db';
import { RequireAccess } from '../../common/auth/access.decorator';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import type { JobEntity } from '@certctl/db';
import { AgentProtocolService, WorkItem } from './agent-protocol.service';
import { AgentsService, RegisteredAgent } from './agents.service';
import { AgentQuery, HeartbeatDto, JobStatusDto, RegisterAgentDto, SubmitCsrDto } from './dto/agent.dto';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService, private readonly protocol: AgentProtocolService) {}

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
  @RequireAccess('agent-self-or-read')
  get(@Param('id') id: string): Promise<AgentEntity> {
    return this.agents.crud.get(id);
  }

  @Post(':id/heartbeat')
  @HttpCode(200)
  @RequireAccess('agent-self')
  heartbeat(@Param('id') id: string, @Body() body: HeartbeatDto): Promise<AgentEntity> {
    return this.agents.heartbeat(id, body);
  }

  /** Pending deployments (claimed for this agent) and issuance jobs waiting for this agent's CSR. */
  @Get(':id/work')
  @RequireAccess('agent-self')
  work(@Param('id') id: string): Promise<{ jobs: WorkItem[]; count: number }> {
    return this.protocol.work(id);
  }

  @Post(':id/csr')
  @HttpCode(202)
  @RequireAccess('agent-self')
  submitCsr(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: SubmitCsrDto, @RequestId() requestId: string) {
    return this.protocol.submitCsr(actor, id, body, requestId);
  }

  @Get(':id/certificates/:certificateId')
  @RequireAccess('agent-self-or-read')
  certificate(@Param('id') id: string, @Param('certificateId') certificateId: string) {
    return this.protocol.certificate(id, certificateId);
  }

  @Post(':id/jobs/:jobId/status')
  @HttpCode(200)
  @RequireAccess('agent-self')
  reportStatus(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Param('jobId') jobId: string, @Body() body: JobStatusDto): Promise<JobEntity> {
    return this.protocol.reportStatus(actor, id, jobId, body);
  }
}
