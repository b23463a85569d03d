import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { DynamicModule, Injectable, Module } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Job, JobsOptions, Queue as BullQueue } from 'bullmq';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { reportRedisError } from './redis-errors';
import { RedisModule } from './redis.module';
import { SelfHealing } from './self-healing';
import { ALL_QUEUES, DEFAULT_JOB_OPTIONS, JOB_QUEUE, JobMap, JobName, QueueName, queueJobId } from '@certctl/contracts';

/**
 * Typed producer: the job name picks the queue and the payload type, so a producer cannot send what the
 * consumer does not expect (STYLE C2). Call it only after the transaction that wrote the row has committed.
 */
@Injectable()
export class JobProducer {
  constructor(private readonly moduleRef: ModuleRef) {}

  queue(name: QueueName): BullQueue {
    return this.moduleRef.get<BullQueue>(getQueueToken(name), { strict: false });
  }

  /** Enqueues `name` with a job id derived from `rowId`, so enqueueing the same work twice is a no-op. */
  async enqueue<N extends JobName>(name: N, data: JobMap[N], rowId: string, options: JobsOptions = {}): Promise<Job<JobMap[N]>> {
    const queueName = JOB_QUEUE[name];
    return this.queue(queueName).add(name, data, {
      ...DEFAULT_JOB_OPTIONS[queueName],
      ...options,
      jobId: queueJobId(name, rowId),
    });
  }
}

/**
 * Listens to every queue's 'error' from the moment the queue exists (BullMQ prints a raw stack to stderr for each
 * connection error of a queue nobody listens to): a factory injected with the queues runs right after them.
 */
const QUEUE_ERROR_REPORTER = {
  provide: Symbol('QUEUE_ERROR_REPORTER'),
  inject: ALL_QUEUES.map((name) => getQueueToken(name)),
  useFactory: (...queues: BullQueue[]) => {
    for (const queue of queues) queue.on('error', (err: Error) => reportRedisError(`queue:${queue.name}`, err));
    return true;
  },
};

/** Registers every queue (connection and key prefix from config), the typed producer and the self-healing of schedulers. */
@Module({})
export class QueuesModule {
  static forRoot(): DynamicModule {
    return {
      module: QueuesModule,
      global: true,
      imports: [
        BullModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => ({
            connection: { url: config.redis.url, maxRetriesPerRequest: null },
            prefix: config.redis.queuePrefix,
          }),
        }),
        BullModule.registerQueue(...ALL_QUEUES.map((name) => ({ name }))),
        RedisModule, // SelfHealing listens for its reconnects
      ],
      providers: [JobProducer, SelfHealing, QUEUE_ERROR_REPORTER],
      exports: [JobProducer, SelfHealing, BullModule],
    };
  }
}
