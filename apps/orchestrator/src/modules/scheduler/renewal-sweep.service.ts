import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { agentGroupMembershipSql, AuditEventEntity, enqueueNotifications, issuanceJobOptions, JobProducer, LifecycleError, newId, openRenewalJob, recordNotifications } from '@certctl/db';

export interface SweepResult {
  statusChanges: number;
  renewalsOpened: number;
  warningsSent: number;
}

const BATCH = 500;
/**
 * Batches one sweep looks at, at most: a larger backlog is taken by the next sweeps (the most urgent first), so a
 * sweep always returns.
 */
const MAX_BATCHES_PER_SWEEP = 20;

/**
 * The renewal window that applies to certificate `c` under policy `p`, given `nv`, its newest version: the policy's
 * window, but never more than a third of the certificate's own lifetime (not_after - not_before). A certificate is
 * therefore never due before two thirds of its lifetime have passed, whatever the policy says: a 30-day certificate
 * under a 30-day window renews with 10 days left (not the moment it is issued, which would renew it forever), a
 * 6-day one with 2 days left. Without a version (nothing issued here yet) the policy's window alone applies.
 * The policy's alert thresholds do not widen it: they say when a person hears about a certificate still not
 * renewed, and a 30-day threshold (the default list is 30, 14, 7, 0) would otherwise override every shorter window.
 */
const EFFECTIVE_WINDOW = `LEAST(make_interval(days => p.renewal_window_days),
                                coalesce(nv.lifetime / 3, make_interval(days => p.renewal_window_days)))`;

/**
 * The share of the effective window over which renewals of certificates due at the same moment are spread: each
 * certificate renews at a fixed point of the first tenth of its window (6-day certificates between 2 and 1.8 days
 * before expiry, 398-day ones under a 30-day window between 30 and 27 days), so a fleet issued in one minute is not
 * renewed in one minute. The spread only ever delays, so the floor of two thirds of the lifetime still holds.
 */
export const RENEWAL_JITTER_FRACTION = 0.1;

/**
 * Where in the spread certificate `c` falls, in [0, 1): the first 32 bits of the MD5 of its id. Deterministic (the
 * same certificate always renews at the same point of its window, whichever replica sweeps) and uniform enough.
 */
const JITTER_OF_CERTIFICATE = `((('x' || substr(md5(c.id), 1, 8))::bit(32)::bigint)::float8 / 4294967296)`;

/** When certificate `c` is due by its policy window (needs `p` and `nv`): the window's start, moved by the spread. */
const POLICY_DUE_AT = `(c.expires_at - ${EFFECTIVE_WINDOW} + ${EFFECTIVE_WINDOW} * (${RENEWAL_JITTER_FRACTION} * ${JITTER_OF_CERTIFICATE}))`;

/** The longest a failed renewal waits for the next one: a certificate keeps a few tries before it expires. */
export const RENEWAL_RETRY_MAX_DELAY_MS = 6 * 3_600_000;

/**
 * How long a certificate waits after a failed renewal, as SQL: the issuance retry backoff carried on across jobs.
 * A job's own attempts wait base, 2×base, 4×base...; after the n-th failed attempt since the newest version (all
 * jobs counted: `attempts`) the next renewal waits base × 2^(n−1), at most RENEWAL_RETRY_MAX_DELAY_MS. With the
 * defaults (30 s, max_retries 3: four attempts a job) that is 4 minutes after the first failed job, 64 after the
 * second, then 6 hours, so a 6-day certificate due with 2 days left still gets several tries. `baseSeconds` is
 * CERTCTL_ISSUANCE_RETRY_BASE_DELAY.
 */
function renewalRetryDelay(attempts: string, baseSeconds: string): string {
  return `LEAST(make_interval(secs => ${baseSeconds}::float8 * power(2, LEAST(greatest(${attempts}, 1) - 1, 40))),
                make_interval(secs => ${RENEWAL_RETRY_MAX_DELAY_MS / 1000}))`;
}

/**
 * The members of enabled groups that some renewal policy is scoped to (a disabled group scopes nobody in), by the
 * agent-groups definition shared with the api. Evaluated once per statement.
 */
const SCOPED_MEMBERS_CTE = `scoped_members AS MATERIALIZED (${agentGroupMembershipSql(
  'g.enabled AND EXISTS (SELECT 1 FROM renewal_policies sp WHERE sp.agent_group_id = g.id)',
)})`;

/**
 * Joins `p`, the renewal policy that governs certificate `c` (needs SCOPED_MEMBERS_CTE). A policy scoped to an
 * agent group applies to the certificates deployed (mapped to a live target) through an agent that is a member
 * of the group; an unscoped policy applies to the certificates assigned to it. When several apply, the most
 * specific wins:
 *  1. a group-scoped policy that applies and is also the certificate's own: chosen for it twice over;
 *  2. another group-scoped policy that applies: a group says more about where the certificate lives than the
 *     inventory-wide assignment does. Among several, a group that names the agent by a manual include before
 *     one that matched it by criteria, then the widest window (it renews first, so no applicable policy sees
 *     the certificate renewed later than it asked), then the id, so the choice is stable;
 *  3. the certificate's own policy when it is unscoped.
 * A certificate assigned a group-scoped policy while not deployed through the group has no governing policy
 * (scoping means exactly that, and renewing it by a window meant for other hosts would be wrong): the sweep
 * does not renew it. `assignedOutsideScope` = true keeps its own policy for expiry warnings, so such a
 * certificate is never forgotten silently.
 */
function governingPolicyJoin(assignedOutsideScope: boolean): string {
  const fallback = assignedOutsideScope ? 'assigned.id' : 'CASE WHEN assigned.agent_group_id IS NULL THEN assigned.id END';
  return `
    JOIN renewal_policies assigned ON assigned.id = c.renewal_policy_id
    LEFT JOIN LATERAL (
      SELECT sp.id FROM certificate_target_mappings m
        JOIN deployment_targets t ON t.id = m.target_id AND t.retired_at IS NULL
        JOIN scoped_members sm ON sm.agent_id = t.agent_id
        JOIN renewal_policies sp ON sp.agent_group_id = sm.agent_group_id
       WHERE m.certificate_id = c.id
       ORDER BY sp.id = c.renewal_policy_id DESC, sm.membership = 'include' DESC, sp.renewal_window_days DESC, sp.id
       LIMIT 1) scoped ON true
    JOIN renewal_policies p ON p.id = coalesce(scoped.id, ${fallback})`;
}

/**
 * The renewal sweep (certctl's renewal loop, minus its bugs):
 *  - Active/Expiring/Expired statuses follow expires_at (Expiring = within 30 days);
 *  - a certificate is due at the earlier of: its point in the renewal window of its governing policy
 *    (governingPolicyJoin: group-scoped policies included), capped at a third of its own lifetime (EFFECTIVE_WINDOW)
 *    and spread over the window's first tenth (POLICY_DUE_AT), and its ACME renewal time (RFC 9773, chosen inside
 *    the CA's suggested window by AriCheckService; the CA may move it earlier, e.g. before a mass revocation). Due,
 *    with auto_renew on and no open job, it gets a Renewal job (which the approval gate may hold). The ARI time
 *    counts only while it belongs to the newest version; without an ARI answer the policy window alone decides.
 *    A renewed certificate is measured by its new version, so it is not due again before that one is;
 *  - a certificate whose renewals failed since its newest version waits before the next one (renewalRetryDelay):
 *    the issuance retry backoff (CERTCTL_ISSUANCE_RETRY_BASE_DELAY, doubling per attempt, attempts bounded by the
 *    policy's max_retries) carried on across jobs, at most RENEWAL_RETRY_MAX_DELAY_MS;
 *  - expiry warnings go out at the governing policy's thresholds, once per certificate, threshold and expiry date.
 * Every comparison is made against `now`, one instant per sweep (the clock is a parameter, so a test can run a
 * simulated year of sweeps without waiting).
 */
@Injectable()
export class RenewalSweepService {
  private readonly logger = new Logger(RenewalSweepService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly producer: JobProducer,
  ) {}

  async sweep(now: Date = new Date()): Promise<SweepResult> {
    const statusChanges = await this.updateExpiryStatuses(now);
    const renewalsOpened = await this.openDueRenewals(now);
    const warningsSent = await this.sendExpiryWarnings(now);
    if (statusChanges || renewalsOpened || warningsSent) this.logger.log({ statusChanges, renewalsOpened, warningsSent }, 'renewal sweep');
    return { statusChanges, renewalsOpened, warningsSent };
  }

  private async updateExpiryStatuses(now: Date): Promise<number> {
    const result: [unknown[], number] = await this.dataSource.query(`
      UPDATE managed_certificates SET status = CASE
          WHEN expires_at <= $1 THEN 'Expired'
          WHEN expires_at <= $1::timestamptz + interval '30 days' THEN 'Expiring'
          ELSE 'Active' END,
        updated_at = now()
      WHERE status IN ('Active', 'Expiring', 'Expired') AND expires_at IS NOT NULL
        AND status <> CASE WHEN expires_at <= $1 THEN 'Expired'
          WHEN expires_at <= $1::timestamptz + interval '30 days' THEN 'Expiring' ELSE 'Active' END`, [now]);
    return result[1] ?? 0;
  }

  /**
   * Walks the candidates once, in (expires_at, id) order with a keyset cursor: a certificate renewed during the
   * sweep is not met again in the same sweep, and at most MAX_BATCHES_PER_SWEEP batches are looked at.
   */
  private async openDueRenewals(now: Date): Promise<number> {
    let opened = 0;
    let cursor: { at: string; id: string } | null = null;
    for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
      const due: Array<{ id: string; cursor_at: string; reason: 'ari_window' | 'policy_window'; renewal_policy_id: string; failed_attempts: number }> = await this.dataSource.query(
        `WITH ${SCOPED_MEMBERS_CTE}
         SELECT c.id, c.expires_at::text AS cursor_at, p.id AS renewal_policy_id, coalesce(f.attempts, 0)::int AS failed_attempts,
                CASE WHEN ${POLICY_DUE_AT} <= $4 THEN 'policy_window' ELSE 'ari_window' END AS reason
           FROM managed_certificates c ${governingPolicyJoin(false)}
           LEFT JOIN LATERAL (SELECT v.id, v.created_at, v.not_after - v.not_before AS lifetime FROM certificate_versions v
                               WHERE v.certificate_id = c.id ORDER BY v.created_at DESC, v.id DESC LIMIT 1) nv ON true
           LEFT JOIN certificate_renewal_info r ON r.certificate_id = c.id
           -- the renewals that failed since the newest version (none once a renewal succeeded): they set the backoff
           LEFT JOIN LATERAL (SELECT max(j.completed_at) AS last_failed_at, sum(greatest(j.attempts, 1)) AS attempts FROM jobs j
                               WHERE j.certificate_id = c.id AND j.type IN ('Issuance', 'Renewal') AND j.status = 'Failed'
                                 AND j.completed_at > coalesce(nv.created_at, '-infinity')) f ON true
          WHERE c.status IN ('Active', 'Expiring', 'Expired', 'Failed') AND p.auto_renew
            AND ($2::timestamptz IS NULL OR (c.expires_at, c.id) > ($2::timestamptz, $3::text))
            -- outside every window and before any ARI time: not a candidate (spares the policy lookup)
            AND (c.expires_at <= $4::timestamptz + (SELECT make_interval(days => max(renewal_window_days)) FROM renewal_policies)
                 OR r.selected_renewal_at <= $4)
            AND (${POLICY_DUE_AT} <= $4
                 OR (r.selected_renewal_at <= $4 AND r.certificate_version_id = nv.id))
            AND (f.last_failed_at IS NULL OR f.last_failed_at + ${renewalRetryDelay('f.attempts', '$5')} <= $4)
            AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.certificate_id = c.id AND j.type IN ('Issuance', 'Renewal')
                              AND j.status IN ('Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running'))
          ORDER BY c.expires_at, c.id LIMIT $1`,
        [BATCH, cursor?.at ?? null, cursor?.id ?? null, now, this.config.issuance.retryBaseDelayMs / 1000],
      );
      for (const { id, reason, renewal_policy_id, failed_attempts } of due) {
        const job = await this.dataSource.transaction(async (tx) => {
          try {
            const { job } = await openRenewalJob(tx, id, { requestedBy: 'system' });
            await tx.insert(AuditEventEntity, {
              id: newId('audit'), actor: 'scheduler', actor_type: 'System', action: 'renewal_job_created', resource_type: 'certificate',
              resource_id: id, event_category: 'cert_lifecycle', details: { job_id: job.id, status: job.status, reason, renewal_policy_id, ...(failed_attempts ? { failed_attempts } : {}) } as never,
            });
            return job;
          } catch (err) {
            if (err instanceof LifecycleError) return undefined;
            throw err;
          }
        });
        if (!job) continue;
        opened++;
        if (job.status === 'Pending') {
          await this.producer.enqueue('certificate.renew', { jobId: job.id }, job.id, issuanceJobOptions(this.config, job));
        }
      }
      if (due.length < BATCH) return opened;
      const last = due[due.length - 1]!;
      cursor = { at: last.cursor_at, id: last.id };
    }
    this.logger.warn({ opened, limit: BATCH * MAX_BATCHES_PER_SWEEP }, 'renewal sweep stopped at its per-sweep limit; the next sweep takes the rest');
    return opened;
  }

  private async sendExpiryWarnings(now: Date): Promise<number> {
    // Each (certificate, crossed threshold, expiry) once; the smallest crossed threshold is the one reported.
    // A threshold longer than a third of the certificate's own lifetime (its renewal window at most) says nothing:
    // a 6-day certificate is inside the default 30-, 14- and 7-day thresholds from the moment it is issued, while
    // its renewal is not even due. Such thresholds are skipped; the ones within its window (and 0) still warn.
    const due: Array<{ id: string; common_name: string; expires_at: Date; policy_id: string; threshold: number }> = await this.dataSource.query(`
      WITH ${SCOPED_MEMBERS_CTE}
      SELECT c.id, c.common_name, c.expires_at, p.id AS policy_id, min(t.threshold)::int AS threshold
        FROM managed_certificates c ${governingPolicyJoin(true)}
        CROSS JOIN LATERAL jsonb_array_elements_text(p.alert_thresholds_days) AS t_raw(value)
        CROSS JOIN LATERAL (SELECT t_raw.value::int AS threshold) t
        LEFT JOIN LATERAL (SELECT v.not_after - v.not_before AS lifetime FROM certificate_versions v
                            WHERE v.certificate_id = c.id ORDER BY v.created_at DESC, v.id DESC LIMIT 1) nv ON true
       WHERE c.status NOT IN ('Archived', 'Revoked', 'Pending') AND c.expires_at IS NOT NULL
         AND c.expires_at <= $1::timestamptz + make_interval(days => t.threshold)
         AND (t.threshold = 0 OR nv.lifetime IS NULL OR make_interval(days => t.threshold) <= nv.lifetime / 3)
         AND NOT EXISTS (SELECT 1 FROM certificate_expiry_alerts a
                          WHERE a.certificate_id = c.id AND a.threshold_days = t.threshold AND a.not_after = c.expires_at)
       GROUP BY c.id, c.common_name, c.expires_at, p.id
       LIMIT 1000`, [now]);
    let sent = 0;
    for (const cert of due) {
      const ids = await this.dataSource.transaction(async (tx) => {
        // Mark every threshold already crossed, so a certificate found late does not get one warning per threshold.
        const marked: unknown[] = await tx.query(
          `INSERT INTO certificate_expiry_alerts (certificate_id, threshold_days, not_after)
           SELECT $1, t.value::int, $2 FROM renewal_policies p, jsonb_array_elements_text(p.alert_thresholds_days) t
            WHERE p.id = $3 AND $2::timestamptz <= $4::timestamptz + make_interval(days => t.value::int)
           ON CONFLICT DO NOTHING RETURNING threshold_days`,
          [cert.id, cert.expires_at, cert.policy_id, now],
        );
        if (!marked.length) return [];
        const daysLeft = Math.floor((new Date(cert.expires_at).getTime() - now.getTime()) / 86_400_000);
        return recordNotifications(tx, {
          type: 'ExpirationWarning', certificate_id: cert.id, threshold_days: cert.threshold,
          message: daysLeft >= 0 ? `${cert.common_name} expires in ${daysLeft} day(s), on ${new Date(cert.expires_at).toISOString()}` : `${cert.common_name} expired on ${new Date(cert.expires_at).toISOString()}`,
        });
      });
      if (ids.length) sent++;
      await enqueueNotifications(this.producer, ids);
    }
    return sent;
  }
}
