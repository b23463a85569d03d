import { Redis } from 'ioredis';
import { queueJobId } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHealthService } from '../../apps/orchestrator/src/modules/scheduler/agent-health.service';
import { JobTimeoutsService } from '../../apps/orchestrator/src/modules/scheduler/job-timeouts.service';
import { ReconcilerService } from '../../apps/orchestrator/src/modules/scheduler/reconciler.service';
import { RenewalSweepService } from '../../apps/orchestrator/src/modules/scheduler/renewal-sweep.service';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/** The orchestrator's periodic work, called directly (the schedulers only decide when). */
describe('sweeps', () => {
  let p: PlatformHarness;
  let inv: Inventory;

  beforeAll(async () => {
    p = await startPlatform();
    inv = await createInventory(p);
  });
  afterAll(async () => p?.close());

  /** An issued certificate (through the real pipeline), then moved to expire in `days`. */
  async function issuedCertificate(days: number, overrides: Record<string, unknown> = {}): Promise<string> {
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, overrides));
    const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
    await p.waitForJob(job, ['Completed']);
    await p.db.query(`UPDATE managed_certificates SET expires_at = now() + make_interval(days => $2) WHERE id = $1`, [cert.id, days]);
    return cert.id as string;
  }
  const openJobs = async (certId: string) =>
    (await p.db.query(`SELECT * FROM jobs WHERE certificate_id = $1 AND type = 'Renewal' ORDER BY created_at`, [certId])).rows;

  it('renews inside the policy window only, honours auto_renew, and moves statuses with expiry', async () => {
    const manual = await post(p, '/api/v1/renewal-policies', { name: unique('manual'), renewal_window_days: 30, auto_renew: false });
    const inside = await issuedCertificate(10);
    const outside = await issuedCertificate(60);
    const noAuto = await issuedCertificate(5, { renewal_policy_id: manual.id });
    const result = await p.orchestrator.get(RenewalSweepService).sweep();
    expect(result.renewalsOpened).toBeGreaterThanOrEqual(1);
    expect(await openJobs(outside)).toHaveLength(0);
    expect(await openJobs(noAuto)).toHaveLength(0);
    const [renewal] = await openJobs(inside);
    expect(renewal).toMatchObject({ requested_by: 'system' });
    await p.waitForJob(renewal.id, ['Completed']);
    const after = (await p.http.get(`/api/v1/certificates/${inside}`).set(p.auth())).body;
    expect((Date.parse(after.expires_at) - Date.now()) / 86_400_000).toBeGreaterThan(80);
    expect((await p.http.get(`/api/v1/certificates/${noAuto}`).set(p.auth())).body.status).toBe('Expiring');

    // a second sweep does not open a second job for the same certificate
    await p.db.query(`UPDATE managed_certificates SET expires_at = now() + interval '3 days' WHERE id = $1`, [noAuto]);
    await p.orchestrator.get(RenewalSweepService).sweep();
    await p.orchestrator.get(RenewalSweepService).sweep();
    expect(await openJobs(noAuto)).toHaveLength(0);
  });

  it('never renews a certificate in the first two thirds of its lifetime, even when the window is as long as the lifetime, and a sweep ends', async () => {
    // The storm: an issuer of 30-day certificates under a 30-day window made every fresh certificate due at once.
    const issuer = await post(p, '/api/v1/issuers', { name: unique('short'), type: 'GenericCA', config: { validity_days: 30 } });
    const policy = await post(p, '/api/v1/renewal-policies', { name: unique('month'), renewal_window_days: 30, auto_renew: true });
    const seed = async (name: string, issuedDaysAgo: number, lifetimeDays: number): Promise<string> => {
      const id = `mc-${name}`;
      await p.db.query(
        `INSERT INTO managed_certificates (id, name, common_name, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at)
         VALUES ($1, $2, $2, $3, $4, $5, $6, 'Active', now() + make_interval(days => $7))`,
        [id, `${name}.example.com`, inv.ownerId, inv.teamId, issuer.id, policy.id, lifetimeDays - issuedDaysAgo]);
      await p.db.query(
        `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, created_at)
         VALUES ($1, $2, $3, now() - make_interval(days => $4), now() + make_interval(days => $5), $3, '', now() - make_interval(days => $4))`,
        [`cv-${name}`, id, unique('serial'), issuedDaysAgo, lifetimeDays - issuedDaysAgo]);
      return id;
    };
    const fresh: string[] = [];
    for (let i = 0; i < 100; i++) fresh.push(await seed(unique('fresh'), 0, 30));
    const youngShort = await seed(unique('young6d'), 3, 6); // 3 days left of 6: not yet (due with 2 left)
    const due = [await seed(unique('old30d'), 25, 30), await seed(unique('old30d'), 21, 30), await seed(unique('old6d'), 5, 6)];
    const renewalsOf = async (ids: string[]) =>
      (await p.db.query(`SELECT certificate_id, id, status FROM jobs WHERE type = 'Renewal' AND certificate_id = ANY($1)`, [ids])).rows;

    const sweep = p.orchestrator.get(RenewalSweepService);
    const first = await sweep.sweep();
    expect(await renewalsOf([...fresh, youngShort])).toHaveLength(0);
    const opened = await renewalsOf(due);
    expect(opened.map((j) => j.certificate_id).sort()).toEqual([...due].sort());
    expect(first.renewalsOpened).toBe(due.length);
    // The renewals complete through the real pipeline with the issuer's 30-day certificates...
    for (const job of opened) await p.waitForJob(job.id, ['Completed']);
    // ...and the fresh certificates they made are not due again: a second sweep right after queues nothing.
    expect((await sweep.sweep()).renewalsOpened).toBe(0);
    expect(await renewalsOf([...fresh, youngShort, ...due])).toHaveLength(due.length);
  });

  it('a sweep meets each certificate once and returns, even when its renewals complete while it runs', async () => {
    // 600 due certificates (more than one batch) whose renewals are done the moment they are opened: triggers stand in
    // for an issuer that answers at once and leave each certificate Active and still inside its window, as the storm did.
    const policy = await post(p, '/api/v1/renewal-policies', { name: unique('storm'), renewal_window_days: 30, auto_renew: true });
    const tag = unique('storm');
    await p.db.query(
      `INSERT INTO managed_certificates (id, name, common_name, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at)
       SELECT $1 || '-' || i, $1 || '-' || i || '.example.com', $1 || '-' || i || '.example.com', $2, $3, $4, $5, 'Active', now() + interval '5 days'
         FROM generate_series(1, 600) i`,
      [tag, inv.ownerId, inv.teamId, inv.issuerId, policy.id]);
    await p.db.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain)
       SELECT 'cv-' || id, id, id, now() - interval '25 days', expires_at, 'fp-' || id, '' FROM managed_certificates WHERE id LIKE $1`,
      [`${tag}-%`]);
    await p.db.query(`
      CREATE FUNCTION test_instant_renewal_job() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.status := 'Completed'; NEW.completed_at := now(); RETURN NEW; END $$;
      CREATE TRIGGER test_instant_renewal_job BEFORE INSERT ON jobs FOR EACH ROW
        WHEN (NEW.certificate_id LIKE '${tag}-%') EXECUTE FUNCTION test_instant_renewal_job();
      CREATE FUNCTION test_instant_renewal_cert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.status := 'Active'; RETURN NEW; END $$;
      CREATE TRIGGER test_instant_renewal_cert BEFORE UPDATE ON managed_certificates FOR EACH ROW
        WHEN (NEW.id LIKE '${tag}-%' AND NEW.status = 'RenewalInProgress') EXECUTE FUNCTION test_instant_renewal_cert();`);
    // The queue jobs the sweep adds are not needed here (their rows are done): the worker leaves them alone.
    const issuance = p.orchestrator.get(JobProducer).queue('issuance');
    await issuance.pause();
    try {
      // A sweep that meets certificates again opens a second renewal for one of them: that ends the wait at once.
      let watching = true;
      const metTwice = (async () => {
        while (watching) {
          const again = await p.db.query(`SELECT 1 FROM jobs WHERE certificate_id LIKE $1 GROUP BY certificate_id HAVING count(*) > 1 LIMIT 1`, [`${tag}-%`]);
          if (again.rows.length) throw new Error('the sweep opened a second renewal for a certificate it had already renewed');
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const result = await Promise.race([p.orchestrator.get(RenewalSweepService).sweep(), metTwice]).finally(() => (watching = false));
      const jobs = await p.db.query(`SELECT certificate_id, count(*)::int AS n FROM jobs WHERE certificate_id LIKE $1 GROUP BY 1`, [`${tag}-%`]);
      expect(jobs.rows).toHaveLength(600);
      expect(jobs.rows.every((r) => r.n === 1)).toBe(true);
      expect(result).toMatchObject({ renewalsOpened: 600 });
    } finally {
      await p.db.query(`
        DROP TRIGGER test_instant_renewal_job ON jobs; DROP FUNCTION test_instant_renewal_job();
        DROP TRIGGER test_instant_renewal_cert ON managed_certificates; DROP FUNCTION test_instant_renewal_cert();
        UPDATE managed_certificates SET status = 'Archived' WHERE id LIKE '${tag}-%';`);
      await issuance.drain();
      await issuance.resume();
    }
  }, 120_000);

  it('puts sweep renewals of an approval-gated profile in AwaitingApproval too', async () => {
    const gated = await post(p, '/api/v1/profiles', { name: unique('gated') });
    const cert = await issuedCertificate(3, { certificate_profile_id: gated.id });
    await p.http.put(`/api/v1/profiles/${gated.id}`).set(p.auth()).send({ requires_approval: true }).expect(200);
    await p.orchestrator.get(RenewalSweepService).sweep();
    const [job] = await openJobs(cert);
    expect(job).toMatchObject({ status: 'AwaitingApproval', requested_by: 'system' });
  });

  it('sends each expiry warning once per certificate, threshold and expiry', async () => {
    const quiet = await post(p, '/api/v1/renewal-policies', { name: unique('warn'), auto_renew: false, alert_thresholds_days: [30, 14, 7] });
    const cert = await issuedCertificate(12, { renewal_policy_id: quiet.id });
    const warnings = async () => (await p.db.query(`SELECT message FROM notification_events WHERE certificate_id = $1 AND type = 'ExpirationWarning'`, [cert])).rows;
    const sweep = p.orchestrator.get(RenewalSweepService);
    await sweep.sweep();
    await sweep.sweep();
    expect(await warnings()).toHaveLength(1); // 30 and 14 crossed at once: one warning
    expect((await warnings())[0].message).toMatch(/expires in 1[12] day/);
    await p.db.query(`UPDATE managed_certificates SET expires_at = now() + interval '6 days' WHERE id = $1`, [cert]);
    await sweep.sweep();
    await sweep.sweep();
    expect(await warnings()).toHaveLength(2);
  });

  it('skips expiry thresholds longer than a third of the certificate\'s lifetime: a fresh 6-day certificate is not "expiring in 5 days"', async () => {
    const policy = await post(p, '/api/v1/renewal-policies', { name: unique('short'), auto_renew: false, alert_thresholds_days: [30, 14, 7, 1, 0] });
    const seed = async (name: string, lifetimeDays: number, expiresInHours: number): Promise<string> => {
      const id = unique(name);
      await p.db.query(
        `INSERT INTO managed_certificates (id, name, common_name, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at)
         VALUES ($1, $1 || '.example.com', $1 || '.example.com', $2, $3, $4, $5, 'Active', now() + make_interval(hours => $6))`,
        [id, inv.ownerId, inv.teamId, inv.issuerId, policy.id, expiresInHours]);
      await p.db.query(
        `INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain)
         SELECT 'cv-' || id, id, id, expires_at - make_interval(days => $2), expires_at, 'fp-' || id, '' FROM managed_certificates WHERE id = $1`,
        [id, lifetimeDays]);
      return id;
    };
    const thresholdsWarned = async (id: string) =>
      (await p.db.query(`SELECT details->>'threshold_days' AS t FROM notification_events WHERE certificate_id = $1 AND type = 'ExpirationWarning' ORDER BY created_at`, [id])).rows.map((r) => Number(r.t));
    const fresh6 = await seed('six-fresh', 6, 5 * 24);     // issued a day ago: inside 30, 14 and 7, but its window is 2 days
    const late6 = await seed('six-late', 6, 20);           // under a day left: the 1-day threshold is within its window
    const year = await seed('year', 398, 25 * 24);         // 25 days left of 398: the 30-day threshold is within its window
    const sweep = p.orchestrator.get(RenewalSweepService);
    await sweep.sweep();
    expect(await thresholdsWarned(fresh6)).toEqual([]);
    expect(await thresholdsWarned(late6)).toEqual([1]);
    expect(await thresholdsWarned(year)).toEqual([30]);
  });

  it('fails jobs that waited too long for a CSR and gives silent agents\' deployments back', async () => {
    const agent = await post(p, '/api/v1/agents', { name: unique('gone') });
    const target = await post(p, '/api/v1/targets', { name: unique('t'), type: 'File', agent_id: agent.id });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id] }));
    const job = (await p.http.post(`/api/v1/certificates/${cert.id}/renew`).set(p.auth()).send({}).expect(202)).body.job_id;
    await p.waitForJob(job, ['AwaitingCSR']);
    await p.db.query(`UPDATE jobs SET updated_at = now() - interval '25 hours' WHERE id = $1`, [job]);
    const deploy = `job-deploy-${cert.id}`;
    await p.db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, agent_id, status, attempts) VALUES ($1, 'Deployment', $2, $3, $4, 'Running', 1)`, [deploy, cert.id, target.id, agent.id]);
    await p.db.query(`UPDATE agents SET status = 'Online', last_heartbeat_at = now() - interval '10 minutes' WHERE id = $1`, [agent.id]);

    const result = await p.orchestrator.get(JobTimeoutsService).sweep();
    expect(result).toMatchObject({ csrTimeouts: 1, requeued: 1 });
    expect((await p.db.query('SELECT status, last_error FROM jobs WHERE id = $1', [job])).rows[0]).toMatchObject({ status: 'Failed', last_error: expect.stringContaining('CSR') });
    expect((await p.db.query('SELECT status FROM jobs WHERE id = $1', [deploy])).rows[0].status).toBe('Pending');
    expect((await p.http.get(`/api/v1/certificates/${cert.id}`).set(p.auth())).body.status).toBe('Failed');

    expect(await p.orchestrator.get(AgentHealthService).sweep()).toBeGreaterThanOrEqual(1);
    expect((await p.http.get(`/api/v1/agents/${agent.id}`).set(p.auth())).body.status).toBe('Offline');
  });

  it('re-enqueues Pending jobs after Redis lost them, and they complete', async () => {
    // Stop the worker from taking jobs, create work, then lose every queue key.
    const certs = await Promise.all([1, 2, 3].map(() => post(p, '/api/v1/certificates', certificateBody(inv))));
    const worker = p.orchestrator.get(ReconcilerService);
    await p.db.query(`UPDATE jobs SET status = 'Cancelled' WHERE status IN ('Pending', 'AwaitingApproval', 'AwaitingCSR')`);
    const redis = new Redis(p.env.redisUrl);
    const pausedIds: string[] = [];
    try {
      for (const cert of certs) {
        // A committed Pending row whose enqueue never happened (a crash between commit and enqueue).
        const id = `job-lost-${cert.id}`;
        await p.db.query(`INSERT INTO jobs (id, type, certificate_id, status, requested_by, updated_at) VALUES ($1, 'Issuance', $2, 'Pending', 'test', now() - interval '1 minute')`, [id, cert.id]);
        pausedIds.push(id);
      }
      const keys = await redis.keys(`${p.env.queuePrefix}:issuance:*`);
      if (keys.length) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
    expect(await worker.reconcile()).toBe(3);
    for (const id of pausedIds) await p.waitForJob(id, ['Completed']);
    expect(await worker.reconcile()).toBe(0);
  });

  it('leaves Deployment rows alone while a live batch job carries them, and re-enqueues them once it is gone', async () => {
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv));
    const worker = p.orchestrator.get(ReconcilerService);
    await p.db.query(`UPDATE jobs SET status = 'Cancelled' WHERE status IN ('Pending', 'AwaitingApproval', 'AwaitingCSR')`);
    const ids = [`job-batched-a-${cert.id}`, `job-batched-b-${cert.id}`];
    for (const id of ids) {
      // Rows of a batch waiting for its retry (back to Pending, the batch job delayed by its backoff).
      await p.db.query(`INSERT INTO jobs (id, type, certificate_id, status, requested_by, updated_at) VALUES ($1, 'Deployment', $2, 'Pending', 'test', now() - interval '1 minute')`, [id, cert.id]);
    }
    const deployQueue = p.orchestrator.get(JobProducer).queue('deploy');
    const batch = await deployQueue.add('certificate.deploy.batch', { jobIds: ids }, { jobId: queueJobId('certificate.deploy.batch', ids[0]!), delay: 3_600_000 });
    expect(await worker.reconcile()).toBe(0);
    await batch.remove();
    expect(await worker.reconcile()).toBe(2);
    for (const id of ids) expect(await deployQueue.getJob(queueJobId('certificate.deploy', id))).toBeDefined();
    // They run as single jobs: without a target each ends Failed, and nothing is left to re-enqueue.
    for (const id of ids) await p.waitForJob(id, ['Failed']);
    expect(await worker.reconcile()).toBe(0);
  });
});

