import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobProducer } from '@certctl/db';
import { RENEWAL_JITTER_FRACTION, RenewalSweepService } from '../../apps/orchestrator/src/modules/scheduler/renewal-sweep.service';
import { createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Lifetime-aware renewal timing, driven by the sweep with a simulated clock (sweep(now)): no sleeps. No CA issues
 * certificates dated in a simulated future, so the issuer's part is played by the test: when the sweep opens a
 * renewal, the test records the new version (valid from the simulated now for the certificate's lifetime) as the
 * issuance pipeline does, or fails the job as the pipeline does after its last attempt. The queue jobs the sweep adds
 * are not needed (their rows are done by the test): the issuance queue stays paused.
 */
describe('renewal timing (issuer played by the test)', () => {
  let p: PlatformHarness;
  let inv: Inventory;
  let policyId: string;
  let sweep: RenewalSweepService;

  beforeAll(async () => {
    // The default retry base (30 s), not the harness's 50 ms, so the backoff is measured in minutes.
    p = await startPlatform({ CERTCTL_ISSUANCE_RETRY_BASE_DELAY: '30s' });
    inv = await createInventory(p);
    policyId = (await post(p, '/api/v1/renewal-policies', { name: unique('month'), renewal_window_days: 30, auto_renew: true, max_retries: 3 })).id;
    sweep = p.orchestrator.get(RenewalSweepService);
    await p.orchestrator.get(JobProducer).queue('issuance').pause();
  });
  afterAll(async () => {
    if (!p) return;
    const issuance = p.orchestrator.get(JobProducer).queue('issuance');
    await issuance.drain();
    await issuance.resume();
    await p.close();
  });

  /** Certificates issued at `notBefore` for `lifetimeDays` each (one version), under the 30-day policy. */
  async function seed(tag: string, count: number, lifetimeDays: number, notBefore: Date, policy = policyId): Promise<string[]> {
    const rows = await p.db.query(
      `INSERT INTO managed_certificates (id, name, common_name, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at)
       SELECT $1 || '-' || i, $1 || '-' || i || '.example.com', $1 || '-' || i || '.example.com', $2, $3, $4, $5, 'Active',
              $6::timestamptz + make_interval(days => $7)
         FROM generate_series(1, $8::int) i RETURNING id`,
      [tag, inv.ownerId, inv.teamId, inv.issuerId, policy, notBefore, lifetimeDays, count]);
    const ids = rows.rows.map((r: { id: string }) => r.id);
    await p.db.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, created_at)
       SELECT 'cv-' || id || '-0', id, 'sn-' || id || '-0', $2, expires_at, 'fp-' || id || '-0', '', $2 FROM managed_certificates WHERE id = ANY($1)`,
      [ids, notBefore]);
    return ids;
  }

  /** The renewal jobs open for `ids`. */
  const openRenewals = async (ids: string[]): Promise<Array<{ id: string; certificate_id: string; max_attempts: number }>> =>
    (await p.db.query(`SELECT id, certificate_id, max_attempts FROM jobs WHERE type = 'Renewal' AND status = 'Pending' AND certificate_id = ANY($1)`, [ids])).rows;

  /** What the pipeline does when a renewal succeeds, at simulated time `now`: a new version valid from now. */
  async function completeRenewal(jobId: string, certificateId: string, lifetimeDays: number, now: Date, n: number): Promise<void> {
    const notAfter = new Date(now.getTime() + lifetimeDays * DAY);
    await p.db.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, created_at, job_id)
       VALUES ($1, $2, $1, $3, $4, $1, '', $3, $5)`, [`cv-${certificateId}-${n}`, certificateId, now, notAfter, jobId]);
    await p.db.query(`UPDATE jobs SET status = 'Completed', attempts = 1, completed_at = $2 WHERE id = $1`, [jobId, now]);
    await p.db.query(`UPDATE managed_certificates SET status = 'Active', expires_at = $2, last_renewal_at = $3 WHERE id = $1`, [certificateId, notAfter, now]);
  }

  /** What the pipeline does when a renewal's last attempt fails, at simulated time `now`. */
  async function failRenewal(jobId: string, certificateId: string, attempts: number, now: Date): Promise<void> {
    await p.db.query(`UPDATE jobs SET status = 'Failed', attempts = $2, last_error = 'the CA said no', completed_at = $3 WHERE id = $1`, [jobId, attempts, now]);
    await p.db.query(`UPDATE managed_certificates SET status = 'Failed' WHERE id = $1`, [certificateId]);
  }

  it('6-, 47- and 398-day certificates under one 30-day policy each renew once per lifetime, at a third of it (or 30 days) before expiry, over a simulated year', async () => {
    const start = new Date();
    const lifetimes: Record<string, number> = {};
    const [six] = await seed(unique('six'), 1, 6, start);
    const [fortySeven] = await seed(unique('fortyseven'), 1, 47, start);
    // Issued 60 days before the simulated year starts, so it is due (with ~30 days left, day 368 of its life) within it.
    const [long] = await seed(unique('long'), 1, 398, new Date(start.getTime() - 60 * DAY));
    lifetimes[six!] = 6;
    lifetimes[fortySeven!] = 47;
    lifetimes[long!] = 398;
    const ids = Object.keys(lifetimes);
    const renewals = new Map<string, Array<{ at: Date; daysLeft: number }>>(ids.map((id) => [id, []]));
    const versions = new Map<string, number>(ids.map((id) => [id, 1]));

    const STEP = 2 * HOUR;
    for (let t = start.getTime(); t <= start.getTime() + 365 * DAY; t += STEP) {
      const now = new Date(t);
      await sweep.sweep(now);
      for (const job of await openRenewals(ids)) {
        const expiresAt = (await p.db.query(`SELECT expires_at FROM managed_certificates WHERE id = $1`, [job.certificate_id])).rows[0].expires_at as Date;
        renewals.get(job.certificate_id)!.push({ at: now, daysLeft: (expiresAt.getTime() - t) / DAY });
        const n = versions.get(job.certificate_id)!;
        await completeRenewal(job.id, job.certificate_id, lifetimes[job.certificate_id]!, now, n);
        versions.set(job.certificate_id, n + 1);
      }
    }

    const stepDays = STEP / DAY;
    for (const id of ids) {
      const lifetime = lifetimes[id]!;
      const window = Math.min(30, lifetime / 3);
      const done = renewals.get(id)!;
      // Each renewal with between `window` and `window` less the spread (and one sweep step) left: never earlier,
      // so never in the first two thirds of the lifetime.
      for (const r of done) {
        expect(r.daysLeft, `${lifetime}-day certificate renewed at ${r.at.toISOString()}`).toBeLessThanOrEqual(window + 1e-9);
        expect(r.daysLeft, `${lifetime}-day certificate renewed at ${r.at.toISOString()}`).toBeGreaterThanOrEqual(window * (1 - RENEWAL_JITTER_FRACTION) - stepDays);
      }
      // Once per lifetime: every version but the newest was renewed exactly once (one job per version, all completed).
      const jobs = (await p.db.query(`SELECT status, count(*)::int AS n FROM jobs WHERE certificate_id = $1 GROUP BY status`, [id])).rows;
      expect(jobs).toEqual([{ status: 'Completed', n: done.length }]);
      expect(versions.get(id)).toBe(done.length + 1);
    }
    // How many: 6-day certificates every ~4 days, 47-day ones every ~31.5 days (the first after ~31.5), the 398-day one once.
    // The gap between two renewals is the lifetime less the window, plus the certificate's spread (its id is random,
    // so anywhere in the first tenth of the window) and up to one sweep step of rounding.
    expect(renewals.get(six!)!.length).toBeGreaterThanOrEqual(Math.floor(365 / (4.2 + stepDays)));
    expect(renewals.get(six!)!.length).toBeLessThanOrEqual(Math.ceil(365 / 4.0));
    expect(renewals.get(fortySeven!)!.length).toBeGreaterThanOrEqual(Math.floor(365 / (47 - 47 / 3 * 0.9 + stepDays)));
    expect(renewals.get(fortySeven!)!.length).toBeLessThanOrEqual(Math.ceil(365 / (47 - 47 / 3)));
    expect(renewals.get(long!)!.length).toBe(1);
    // The intervals between renewals are the lifetime less the window (plus the certificate's fixed spread).
    const sixGaps = renewals.get(six!)!.slice(1).map((r, i) => (r.at.getTime() - renewals.get(six!)![i]!.at.getTime()) / DAY);
    for (const gap of sixGaps) expect(gap).toBeGreaterThanOrEqual(4 - stepDays);
  }, 600_000);

  it('a failed renewal is retried after its backoff (the issuance retry backoff carried on across jobs), not at the next sweep', async () => {
    const start = new Date();
    // 47-day certificate with 10 days left: due now.
    const [id] = await seed(unique('failing'), 1, 47, new Date(start.getTime() - 37 * DAY));
    await sweep.sweep(start);
    const [first] = await openRenewals([id!]);
    expect(first).toBeDefined();
    expect(first!.max_attempts).toBe(4); // max_retries 3
    const failedAt = new Date(start.getTime() + 5 * 60_000);
    await failRenewal(first!.id, id!, 4, failedAt);

    // After four failed attempts: 30 s × 2^3 = 4 minutes. Sweeps before that open nothing.
    for (const after of [0, 60_000, 3 * 60_000, 4 * 60_000 - 1_000]) {
      await sweep.sweep(new Date(failedAt.getTime() + after));
      expect(await openRenewals([id!]), `${after} ms after the failure`).toHaveLength(0);
    }
    await sweep.sweep(new Date(failedAt.getTime() + 4 * 60_000 + 1_000));
    const [second] = await openRenewals([id!]);
    expect(second).toBeDefined();
    const audit = (await p.db.query(`SELECT details FROM audit_events WHERE action = 'renewal_job_created' AND details->>'job_id' = $1`, [second!.id])).rows[0];
    expect(audit.details).toMatchObject({ failed_attempts: 4, reason: 'policy_window' });

    // A second failed job (eight attempts in all): 30 s × 2^7 = 64 minutes.
    const failedAgain = new Date(failedAt.getTime() + 10 * 60_000);
    await failRenewal(second!.id, id!, 4, failedAgain);
    await sweep.sweep(new Date(failedAgain.getTime() + 63 * 60_000));
    expect(await openRenewals([id!])).toHaveLength(0);
    await sweep.sweep(new Date(failedAgain.getTime() + 65 * 60_000));
    const [third] = await openRenewals([id!]);
    expect(third).toBeDefined();

    // It succeeds: the failures belong to the old version, and the new one is not due until its own window.
    const renewedAt = new Date(failedAgain.getTime() + 70 * 60_000);
    await completeRenewal(third!.id, id!, 47, renewedAt, 1);
    await sweep.sweep(new Date(renewedAt.getTime() + HOUR));
    await sweep.sweep(new Date(renewedAt.getTime() + 30 * DAY));
    expect(await openRenewals([id!])).toHaveLength(0);
    await sweep.sweep(new Date(renewedAt.getTime() + (47 - 47 / 3) * DAY + (47 / 3) * RENEWAL_JITTER_FRACTION * DAY));
    expect(await openRenewals([id!])).toHaveLength(1);
  }, 120_000);

  it('spreads 1,000 certificates with the same expiry over the first tenth of their window, the same way every time', async () => {
    const expiry = new Date(Date.now() + 40 * DAY);
    // The same 30-day window; warnings only at 7 days, so the sweeps here do renewals and nothing else.
    const quiet = (await post(p, '/api/v1/renewal-policies', { name: unique('quiet'), renewal_window_days: 30, auto_renew: true, alert_thresholds_days: [7] })).id;
    const ids = await seed(unique('fleet'), 1000, 398, new Date(expiry.getTime() - 398 * DAY), quiet);
    const STEP = 6 * HOUR;
    const times = (): number[] => Array.from({ length: 20 }, (_, i) => expiry.getTime() - 31 * DAY + i * STEP);

    /** Sweeps across the window's start; for each certificate, the sweep that opened its renewal. */
    async function run(): Promise<Map<string, number>> {
      const openedAt = new Map<string, number>();
      for (const t of times()) {
        await sweep.sweep(new Date(t));
        for (const job of await openRenewals(ids)) {
          if (!openedAt.has(job.certificate_id)) openedAt.set(job.certificate_id, t);
        }
      }
      return openedAt;
    }

    const first = await run();
    expect(first.size).toBe(1000);
    const windowStart = expiry.getTime() - 30 * DAY;
    const spreadEnd = windowStart + 30 * RENEWAL_JITTER_FRACTION * DAY;
    for (const t of first.values()) {
      expect(t).toBeGreaterThanOrEqual(windowStart);
      expect(t).toBeLessThan(spreadEnd + STEP);
    }
    // Spread over the 3 days (12 sweeps of 6 hours, ~83 each), not all in one sweep.
    const perSweep = new Map<number, number>();
    for (const t of first.values()) perSweep.set(t, (perSweep.get(t) ?? 0) + 1);
    expect(perSweep.size).toBeGreaterThanOrEqual(12);
    expect(Math.max(...perSweep.values())).toBeLessThan(150);

    // The same certificates, back to where they were: each renews at the same point again (no randomness).
    await p.db.query(`DELETE FROM jobs WHERE certificate_id = ANY($1)`, [ids]);
    await p.db.query(`UPDATE managed_certificates SET status = 'Active' WHERE id = ANY($1)`, [ids]);
    const second = await run();
    expect([...second.entries()].sort()).toEqual([...first.entries()].sort());
  }, 300_000);
});
