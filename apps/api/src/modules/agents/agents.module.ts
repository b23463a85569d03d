import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { AgentsController } from './agents.controller';
import { AgentsService } from './agents.service';
import { AgentProtocolService } from './agent-protocol.service';

@Module({ controllers: [AgentsController], providers: [AgentsService, AgentProtocolService, ClusterCounters] })
export class AgentsModule {}
