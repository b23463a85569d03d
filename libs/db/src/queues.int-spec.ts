import { getQueueToken } from '@nestjs/bullmq';
import { Test, TestingModule } from '@nestjs/testing';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS } from '@certctl/contracts';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { JobProducer, QueuesModule } from './queues.module';

/** The typed producer against a real Redis, under this file's own key prefix. */
describe('JobProducer', () => {
  let env: TestEnvironment;
  let moduleRef: TestingModule;
  let producer: JobProducer;

  beforeAll(async () => {
    env = await createTestEnvironment();
    Object.assign(process.env, env.env);
    moduleRef = await Test.createTestingModule({ imports: [ConfigModule.forRoot('test'), QueuesModule.forRoot()] }).compile();
    await moduleRef.init();
    producer = moduleRef.get(JobProducer);
  });
  afterAll(async () => {
    await moduleRef?.close();
    await env?.destroy();
  });

  it('puts each job name on its queue with that queue\'s default options and the ids-only payload', async () => {
    await producer.enqueue('certificate.issue', { jobId: 'job-1', correlationId: 'req-1' }, 'job-1');
    const queue = moduleRef.get<Queue>(getQueueToken('issuance'));
    const job = await queue.getJob('certificate.issue__job-1');
    expect(job?.name).toBe('certificate.issue');
    expect(job?.data).toEqual({ jobId: 'job-1', correlationId: 'req-1' });
    expect(job?.opts.attempts).toBe(DEFAULT_JOB_OPTIONS.issuance.attempts);
    expect(job?.opts.backoff).toEqual(DEFAULT_JOB_OPTIONS.issuance.backoff);
  });

  it('makes a second enqueue of the same row a no-op', async () => {
    await producer.enqueue('notification.send', { notificationId: 'notif-1' }, 'notif-1');
    await producer.enqueue('notification.send', { notificationId: 'notif-1' }, 'notif-1');
    const queue = moduleRef.get<Queue>(getQueueToken('notify'));
    expect(await queue.getJobCountByTypes('waiting', 'delayed')).toBe(1);
  });

  it('keys every queue under the configured prefix, so test files never share queues', async () => {
    await producer.enqueue('network-scan.run', { scanId: 'dscan-1' }, 'dscan-1');
    const redis = new Redis(env.redisUrl);
    try {
      expect(await redis.exists(`${env.queuePrefix}:scan:network-scan.run__dscan-1`)).toBe(1);
      expect(await redis.exists(`bull:scan:network-scan.run__dscan-1`)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});
