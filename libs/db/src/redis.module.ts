import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { reportRedisError } from './redis-errors';
import { AgentWorkSignal } from './agent-work-signal';
import { REDIS } from './redis-token';

export { REDIS };

@Injectable()
class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        // Commands issued before the first connect wait for it; health checks bound their own wait.
        const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 2 });
        redis.on('error', (err: Error) => reportRedisError('client', err));
        return redis;
      },
    },
    RedisCloser,
    AgentWorkSignal,
  ],
  exports: [REDIS, AgentWorkSignal],
})
export class RedisModule {}
