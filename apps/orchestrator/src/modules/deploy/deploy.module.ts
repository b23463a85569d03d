import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { DeployProcessor } from './deploy.processor';
import { DeployService } from './deploy.service';
import { DeployStore } from './deploy.store';
import { RedisLocks } from './redis-locks';

@Module({ providers: [DeployService, DeployStore, DeployProcessor, RedisLocks, ClusterCounters], exports: [DeployService] })
export class DeployModule {}
