import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, Queue, queueJobId } from '@certctl/contracts';
import { issuanceJobOptions, JobProducer } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { matchBulkCriteria } from './bulk-criteria';
import { BulkRenewDto } from './dto/certificate.dto';
import { RenewalJobs } from './renewal-jobs';

export interface BulkRenewResult {
  total_matched: number;
  total_enqueued: number;
  total_skipped: number;
  total_failed: number;
  /** One entry per job opened: Pending ones are queued, AwaitingApproval ones wait for the approval gate. */
  enqueued_jobs: Array<{ certificate_id: string; job_id: string; job_status: string }>;
  errors: Array<{ certificate_id: string; error: string }>;
}

/**
 * POST /certificates/bulk-renew: opens a renewal job for every certificate matching the criteria, under the
 * rules of a single renew (RenewalJobs: archived and revoked certificates, and those with an open job, are
 * skipped; a profile's approval gate holds the job), set-based: a few statements for the whole request, one
 * transaction with one audit row per job opened, and the queue jobs added in bulk after commit.
 */
@Injectable()
export class BulkRenewService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly producer: JobProducer,
    private readonly renewals: RenewalJobs,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async renew(actor: Principal, criteria: BulkRenewDto, correlationId: string): Promise<BulkRenewResult> {
    const result: BulkRenewResult = { total_matched: 0, total_enqueued: 0, total_skipped: 0, total_failed: 0, enqueued_jobs: [], errors: [] };
    const toQueue: Array<{ id: string; type: 'Issuance' | 'Renewal'; max_attempts: number }> = [];

    await this.dataSource.transaction(async (tx) => {
      const matched = await matchBulkCriteria(tx, criteria, actor, 'cert.issue');
      result.total_matched = matched.ids.length;
      result.errors = matched.errors;
      result.total_failed = matched.errors.length;
      if (!matched.ids.length) return;

      const outcomes = await this.renewals.open(tx, actor, matched.ids, { force: false, bulk: true });
      for (const o of outcomes) {
        if (!o.job) continue;
        result.enqueued_jobs.push({ certificate_id: o.certificate_id, job_id: o.job.id, job_status: o.job.status });
        if (o.job.status === 'Pending') toQueue.push(o.job);
      }
      result.total_enqueued = result.enqueued_jobs.length;
      result.total_skipped = outcomes.length - result.total_enqueued;
    });

    // After commit, like a single renew: a queue job whose row is not visible yet would find nothing to run.
    const queue = this.producer.queue(Queue.Issuance);
    for (let i = 0; i < toQueue.length; i += 500) {
      await queue.addBulk(toQueue.slice(i, i + 500).map((job) => {
        const name = job.type === 'Issuance' ? 'certificate.issue' as const : 'certificate.renew' as const;
        return {
          name,
          data: { jobId: job.id, correlationId },
          opts: { ...DEFAULT_JOB_OPTIONS[Queue.Issuance], ...issuanceJobOptions(this.config, job), jobId: queueJobId(name, job.id) },
        };
      }));
    }
    return result;
  }
}
