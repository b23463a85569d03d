import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { DeployProcessor } from './deploy.processor';
import { DeployService } from './deploy.service';
import { RedisLocks } from './redis-locks';

@Module({ providers: [DeployService, DeployProcessor, RedisLocks, ClusterCounters], exports: [DeployService] })
export class DeployModule {}
