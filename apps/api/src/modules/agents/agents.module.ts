import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { AgentsController } from './agents.controller';
import { AgentsService } from './agents.service';
import { AgentProtocolService } from './agent-protocol.service';
import { AgentWorkHub } from './agent-work-hub';

@Module({ controllers: [AgentsController], providers: [AgentsService, AgentProtocolService, AgentWorkHub, ClusterCounters] })
export class AgentsModule {}
