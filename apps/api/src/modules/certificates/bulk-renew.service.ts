import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { DEFAULT_JOB_OPTIONS, Queue, queueJobId } from '@certctl/contracts';
import { issuanceJobOptions, JobProducer, newId, OPEN_JOB_STATUSES } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { BULK_RENEW_MAX_CERTIFICATES, BulkRenewDto } from './dto/certificate.dto';

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

interface Candidate {
  id: string;
  status: string;
  has_open_job: boolean;
  has_version: boolean;
  max_attempts: number;
  requires_approval: boolean;
}

/**
 * POST /certificates/bulk-renew: opens a renewal job for every certificate matching the criteria, under the
 * rules of a single renew (archived and revoked certificates, and those with an open job, are skipped; a
 * profile's approval gate holds the job), set-based: a few statements for the whole request, one transaction
 * with one audit row per job opened, and the queue jobs added in bulk after commit.
 */
@Injectable()
export class BulkRenewService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly producer: JobProducer,
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

      // Read after the locks are held, so a job opened by a concurrent renew that committed first is seen.
      const candidates: Candidate[] = await tx.query(
        `SELECT c.id, c.status,
                EXISTS (SELECT 1 FROM jobs j WHERE j.certificate_id = c.id AND j.type IN ('Issuance', 'Renewal')
                          AND j.status = ANY($2::text[])) AS has_open_job,
                EXISTS (SELECT 1 FROM certificate_versions v WHERE v.certificate_id = c.id) AS has_version,
                COALESCE(p.max_retries, 2) + 1 AS max_attempts,
                COALESCE(pr.requires_approval, false) AS requires_approval
           FROM managed_certificates c
           LEFT JOIN renewal_policies p ON p.id = c.renewal_policy_id
           LEFT JOIN certificate_profiles pr ON pr.id = COALESCE(c.certificate_profile_id, p.certificate_profile_id)
          WHERE c.id = ANY($1::text[]) ORDER BY c.id`,
        [locked.map((c) => c.id), [...OPEN_JOB_STATUSES]],
      );
      const renewable = candidates.filter((c) => c.status !== 'Archived' && c.status !== 'Revoked' && !c.has_open_job);
      result.total_skipped = candidates.length - renewable.length;
      if (!renewable.length) return;

      const jobs = renewable.map((c) => ({
        id: newId('job'),
        certificate_id: c.id,
        type: c.has_version ? 'Renewal' as const : 'Issuance' as const,
        status: c.requires_approval ? 'AwaitingApproval' : 'Pending',
        max_attempts: c.max_attempts,
      }));
      await tx.query(
        `INSERT INTO jobs (id, type, certificate_id, status, max_attempts, requested_by)
         SELECT *, $6::text FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])`,
        [jobs.map((j) => j.id), jobs.map((j) => j.type), jobs.map((j) => j.certificate_id), jobs.map((j) => j.status),
          jobs.map((j) => j.max_attempts), actor.actor],
      );
      await tx.query(
        `UPDATE managed_certificates SET status = 'RenewalInProgress', updated_at = now() WHERE id = ANY($1::text[])`,
        [jobs.map((j) => j.certificate_id)],
      );
      // The same audit record as a single renew, per certificate, marked as part of a bulk request.
      await tx.query(
        `INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
         SELECT a.id, $1, $2, 'renewal_triggered', 'certificate', a.certificate_id, 'cert_lifecycle', a.details::jsonb
           FROM unnest($3::text[], $4::text[], $5::text[]) AS a(id, certificate_id, details)`,
        [actor.actor, actor.actor_type, jobs.map(() => newId('audit')), jobs.map((j) => j.certificate_id),
          jobs.map((j) => JSON.stringify({ job_id: j.id, job_status: j.status, force: false, cancelled: [], bulk: true }))],
      );
      for (const j of jobs) {
        result.enqueued_jobs.push({ certificate_id: j.certificate_id, job_id: j.id, job_status: j.status });
        if (j.status === 'Pending') toQueue.push(j);
      }
      result.total_enqueued = jobs.length;
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
