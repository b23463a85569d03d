import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, ReturnsError, bool, dateTime, errorWith, int, objectOf, pageOf, str, strings } from '../../common/openapi/response-schemas';
import type { Response } from 'express';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { excludeFromLatency } from '@certctl/observability';
import type { AgentEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import type { JobEntity } from '@certctl/db';
import type { AgentWorkAnswer } from '@certctl/contracts';
import { AgentProtocolService } from './agent-protocol.service';
import { AgentWorkHub } from './agent-work-hub';
import { AgentRetirement, AgentsService, RegisteredAgent } from './agents.service';
import { AgentQuery, AgentWorkQueryDto, HeartbeatDto, JobStatusDto, RegisterAgentDto, RetireAgentQuery, SubmitCsrDto } from './dto/agent.dto';
import { RequirePermission } from '../../common/auth/permission.decorator';

/** What depends on an agent being retired (AgentsService.dependencies). */
const RetireCountsSchema = objectOf({ active_targets: int, active_certificates: int, pending_jobs: int });

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService, private readonly protocol: AgentProtocolService, private readonly hub: AgentWorkHub) {}

  @Get()
  @Returns(pageOf(Schemas.Agent))
  @RequirePermission('agent.read', { scope: 'rows' })
  list(@CurrentPrincipal() actor: Principal, @Query() query: AgentQuery): Promise<Page<AgentEntity>> {
    return this.agents.list(actor, query);
  }

  /** Registers an agent; the response carries its API key, shown this once. */
  @Post()
  @Returns(Schemas.RegisteredAgent, 201)
  @RequirePermission('agent.edit')
  register(@CurrentPrincipal() actor: Principal, @Body() body: RegisterAgentDto): Promise<RegisteredAgent> {
    return this.agents.register(actor, body);
  }

  /** Soft-retired agents (a literal route, registered before `:id`). */
  @Get('retired')
  @Returns(pageOf(Schemas.Agent))
  @RequirePermission('agent.read', { scope: 'rows' })
  listRetired(@CurrentPrincipal() actor: Principal, @Query() query: AgentQuery): Promise<Page<AgentEntity>> {
    return this.agents.list(actor, query, true);
  }

  @Get(':id')
  @Returns(Schemas.Agent)
  @RequirePermission(['agent.read', 'agent.heartbeat'], { scope: 'rows', agentSelf: 'id' })
  get(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<AgentEntity> {
    return this.agents.get(actor, id);
  }

  /**
   * Retires the agent (certctl's soft delete): 409 with `counts` while targets, certificates or open jobs depend
   * on it, unless `?force=true&reason=…` cascades; 403 for sentinel agents; 204 when it already was retired.
   */
  @Delete(':id')
  @Returns(objectOf({ retired_at: dateTime, already_retired: bool, cascade: bool, counts: RetireCountsSchema }))
  @ReturnsError(409, 'Targets, certificates or open jobs depend on the agent; `counts` says how many', errorWith({ counts: RetireCountsSchema }))
  @RequirePermission('agent.retire')
  async retire(
    @CurrentPrincipal() actor: Principal, @Param('id') id: string, @Query() query: RetireAgentQuery, @Res({ passthrough: true }) res: Response,
  ): Promise<AgentRetirement | undefined> {
    const result = await this.agents.retire(actor, id, query.force === 'true', query.reason);
    if (result.already_retired) {
      res.status(204);
      return undefined;
    }
    return result;
  }

  @Post(':id/heartbeat')
  @HttpCode(200)
  @Returns(Schemas.Agent)
  @RequirePermission('agent.heartbeat', { agentSelf: 'id' })
  heartbeat(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: HeartbeatDto): Promise<AgentEntity> {
    return this.agents.heartbeat(actor, id, body);
  }

  /**
   * Pending deployments (claimed for this agent) and issuance jobs waiting for this agent's CSR; with
   * `resume=true` also the agent's Running deployments (it has just started and may have lost them). With
   * `wait=N` (long-poll), no work now holds the request up to N seconds, answered as soon as work appears.
   */
  @Get(':id/work')
  @Returns(objectOf({ jobs: { type: 'array', items: objectOf({ id: str, type: str, certificate_id: str, common_name: str, sans: strings, target_id: str, target_type: str, target_config: {}, status: str, redelivered: bool }, ['id', 'type', 'certificate_id', 'common_name', 'sans', 'status']) }, count: int }))
  @ReturnsError(429, 'Long-poll: this api process holds CERTCTL_AGENT_LONG_POLL_MAX_HELD work requests already')
  @RequirePermission('agent.job.poll', { agentSelf: 'id' })
  async work(@Param('id') id: string, @Query() query: AgentWorkQueryDto, @Res({ passthrough: true }) res: Response): Promise<AgentWorkAnswer> {
    if (!query.wait) return this.protocol.work(id, query.resume === 'true');
    excludeFromLatency(res);
    // The client leaving (or its connection dropping) ends the wait; nothing is claimed for a closed connection.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const answer = await this.protocol.waitForWork(id, query.resume === 'true', query.wait * 1000, gone.signal);
    // Answered because the process shuts down: the agent reconnects elsewhere rather than on this connection.
    if (this.hub.isClosing && !res.headersSent) res.setHeader('Connection', 'close');
    return answer;
  }

  @Post(':id/csr')
  @HttpCode(202)
  @Returns(objectOf({ status: { const: 'csr_accepted' }, job_id: str }), 202)
  @RequirePermission('agent.job.poll', { agentSelf: 'id' })
  submitCsr(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: SubmitCsrDto, @RequestId() requestId: string) {
    return this.protocol.submitCsr(actor, id, body, requestId);
  }

  @Get(':id/certificates/:certificateId')
  @Returns(objectOf({ certificate_id: str, certificate_pem: str, chain_pem: str, serial_number: str, not_after: dateTime }))
  @RequirePermission(['cert.read', 'agent.job.poll'], { scope: 'rows', agentSelf: 'id' })
  certificate(@Param('id') id: string, @Param('certificateId') certificateId: string) {
    return this.protocol.certificate(id, certificateId);
  }

  @Post(':id/jobs/:jobId/status')
  @HttpCode(200)
  @Returns(Schemas.Job)
  @RequirePermission('agent.job.complete', { agentSelf: 'id' })
  reportStatus(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Param('jobId') jobId: string, @Body() body: JobStatusDto): Promise<JobEntity> {
    return this.protocol.reportStatus(actor, id, jobId, body);
  }
}
