import { describe, expect, it } from 'vitest';
import { ALL_QUEUES, DEFAULT_JOB_OPTIONS, JOB_QUEUE, Queue, queueJobId } from './queues';

describe('queue contracts', () => {
  it('names the six queues of the architecture', () => {
    expect([...ALL_QUEUES].sort()).toEqual(['deploy', 'issuance', 'notify', 'notify-dead-letter', 'scan', 'schedule']);
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
});
