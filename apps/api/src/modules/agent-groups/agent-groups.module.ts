import { Module } from '@nestjs/common';
import { AgentGroupMembersController, AgentGroupsController } from './agent-groups.controller';
import { AgentGroupsService } from './agent-groups.service';

@Module({ controllers: [AgentGroupsController, AgentGroupMembersController], providers: [AgentGroupsService] })
export class AgentGroupsModule {}
