import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, Queue, queueJobId } from '@certctl/contracts';
import { issuanceJobOptions, JobProducer } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { BULK_RENEW_MAX_CERTIFICATES, BulkRenewDto } from './dto/certificate.dto';
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

/** Which column (or relation) each single-id criterion filters on, and the table its id must exist in. */
const ID_CRITERIA = [
  { field: 'profile_id', table: 'certificate_profiles' },
  { field: 'owner_id', table: 'owners' },
  { field: 'agent_id', table: 'agents' },
  { field: 'issuer_id', table: 'issuers' },
  { field: 'team_id', table: 'teams' },
] as const;

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
    const given = ID_CRITERIA.filter((c) => criteria[c.field] !== undefined);
    if (!given.length && !criteria.certificate_ids?.length) {
      throw ApiError.invalidField('criteria', `give at least one of ${[...ID_CRITERIA.map((c) => c.field), 'certificate_ids'].join(', ')}`);
    }
    const result: BulkRenewResult = { total_matched: 0, total_enqueued: 0, total_skipped: 0, total_failed: 0, enqueued_jobs: [], errors: [] };
    const toQueue: Array<{ id: string; type: 'Issuance' | 'Renewal'; max_attempts: number }> = [];

    await this.dataSource.transaction(async (tx) => {
      for (const { field, table } of given) {
        const found: unknown[] = await tx.query(`SELECT 1 FROM ${table} WHERE id = $1`, [criteria[field]]);
        if (!found.length) throw ApiError.missingReference(field, criteria[field]!);
      }
      const requestedIds = criteria.certificate_ids ? [...new Set(criteria.certificate_ids)] : null;
      // Locks the matching certificates in id order, as a single renew locks its one, so neither can open a
      // second job behind the other's back.
      const locked: Array<{ id: string }> = await tx.query(
        `SELECT c.id FROM managed_certificates c
          LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
          WHERE ($1::text[] IS NULL OR c.id = ANY($1::text[]))
            AND ($2::text IS NULL OR COALESCE(c.certificate_profile_id, p.certificate_profile_id) = $2)
            AND ($3::text IS NULL OR c.owner_id = $3)
            AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
                                              WHERE m.certificate_id = c.id AND t.agent_id = $4))
            AND ($5::text IS NULL OR c.issuer_id = $5)
            AND ($6::text IS NULL OR c.team_id = $6)
          ORDER BY c.id LIMIT $7
          FOR UPDATE OF c`,
        [requestedIds, criteria.profile_id ?? null, criteria.owner_id ?? null, criteria.agent_id ?? null, criteria.issuer_id ?? null,
          criteria.team_id ?? null, BULK_RENEW_MAX_CERTIFICATES + 1],
      );
      if (locked.length > BULK_RENEW_MAX_CERTIFICATES) {
        throw ApiError.invalidField('criteria', `matches more than ${BULK_RENEW_MAX_CERTIFICATES} certificates; narrow the criteria or split the request`);
      }
      result.total_matched = locked.length;
      if (requestedIds) {
        const matched = new Set(locked.map((c) => c.id));
        for (const id of requestedIds) {
          if (!matched.has(id)) result.errors.push({ certificate_id: id, error: given.length ? 'not found or does not match the criteria' : 'not found' });
        }
        result.total_failed = result.errors.length;
      }
      if (!locked.length) return;

      const outcomes = await this.renewals.open(tx, actor, locked.map((c) => c.id), { force: false, bulk: true });
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
