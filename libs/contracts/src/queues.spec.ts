import { describe, expect, it } from 'vitest';
import { ALL_QUEUES, DEFAULT_JOB_OPTIONS, DEPLOY_BATCH_MAX_ROWS, deployQueueJobs, JOB_QUEUE, Queue, queueJobId } from './queues';

describe('queue contracts', () => {
  it('names the queues of the architecture', () => {
    expect([...ALL_QUEUES].sort()).toEqual(['acme-validation', 'deploy', 'health-check', 'issuance', 'notify', 'notify-dead-letter', 'scan', 'schedule']);
  });

  it('routes every job to a declared queue, and every queue has default options', () => {
    for (const queue of Object.values(JOB_QUEUE)) expect(ALL_QUEUES).toContain(queue);
    for (const queue of ALL_QUEUES) expect(DEFAULT_JOB_OPTIONS[queue]).toBeDefined();
  });

  it('bounds retention everywhere except the dead-letter queue, which keeps everything', () => {
    expect(DEFAULT_JOB_OPTIONS[Queue.NotifyDeadLetter]).toMatchObject({ removeOnComplete: false, removeOnFail: false });
    expect(DEFAULT_JOB_OPTIONS[Queue.Notify]).toMatchObject({ attempts: 5, backoff: { type: 'exponential' } });
    for (const queue of [Queue.Issuance, Queue.Deploy, Queue.Notify, Queue.Scan]) {
      expect(DEFAULT_JOB_OPTIONS[queue].removeOnComplete).toMatchObject({ age: expect.any(Number) });
    }
  });

  it('derives the BullMQ job id from the row id, without the separator BullMQ reserves', () => {
    expect(queueJobId('certificate.issue', 'job-1')).toBe(queueJobId('certificate.issue', 'job-1'));
    expect(queueJobId('certificate.issue', 'job-1')).not.toBe(queueJobId('certificate.renew', 'job-1'));
    expect(queueJobId('notification.send', 'notif-1')).not.toContain(':');
  });

  it('sends a certificate fan-out as batch jobs of bounded size on the deploy queue, and a lone row as a single job', () => {
    expect(JOB_QUEUE['certificate.deploy.batch']).toBe(Queue.Deploy);
    const ids = Array.from({ length: DEPLOY_BATCH_MAX_ROWS * 2 + 1 }, (_, i) => `job-${i}`);
    const jobs = deployQueueJobs(ids, 'req-1');
    expect(jobs.map((j) => j.name)).toEqual(['certificate.deploy.batch', 'certificate.deploy.batch', 'certificate.deploy']);
    expect(jobs.flatMap((j) => (j.name === 'certificate.deploy.batch' ? j.data.jobIds : [j.data.jobId]))).toEqual(ids);
    expect(jobs.map((j) => j.rowId)).toEqual(['job-0', `job-${DEPLOY_BATCH_MAX_ROWS}`, `job-${DEPLOY_BATCH_MAX_ROWS * 2}`]);
    expect(jobs.every((j) => j.data.correlationId === 'req-1')).toBe(true);
    expect(deployQueueJobs(['job-a'])).toEqual([{ name: 'certificate.deploy', data: { jobId: 'job-a', correlationId: undefined }, rowId: 'job-a' }]);
    expect(deployQueueJobs([])).toEqual([]);
  });
});
