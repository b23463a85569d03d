import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Client } from 'pg';
import { newId } from '@certctl/db';
import { createWorkerApp } from '@certctl/observability';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { seedIssuedCertificate, TestCa } from '../../../../../libs/deploy/src/testing/material';
import { DeployModule } from './deploy.module';
import { DeployService } from './deploy.service';
import { DeployStore, JobOutcome } from './deploy.store';

/** The deploy worker against real PostgreSQL and Redis: grouped claims and outcome transactions, their fall-back, a re-run. */
describe('orchestrator DeployService', () => {
  let env: TestEnvironment;
  let app: INestApplication;
  let db: Client;
  let dir: string;
  let service: DeployService;
  let store: DeployStore;
  let certPem: string;

  beforeAll(async () => {
    env = await createTestEnvironment();
    Object.assign(process.env, env.env);
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    dir = mkdtempSync(join(tmpdir(), 'deploy-service-'));
    const ca = await TestCa.create();
    const material = await ca.issue(['svc.example.com']);
    certPem = material.certPem;
    await seedIssuedCertificate(db, 'svc', material, env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
    app = await createWorkerApp('orchestrator', [DeployModule]);
    await app.init();
    service = app.get(DeployService);
    store = app.get(DeployStore);
  });
  afterAll(async () => {
    await app?.close();
    await db?.end();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await env?.destroy();
  });

  /** File targets with a validate and a reload command, mapped to the certificate; one Pending job each. */
  async function targetsWithJobs(count: number, name: string): Promise<Array<{ targetId: string; jobId: string; cert: string }>> {
    const out = [];
    for (let i = 0; i < count; i++) {
      const targetId = `t-${name}-${i}`;
      const cert = join(dir, `${name}-${i}-cert.pem`);
      await db.query(`INSERT INTO deployment_targets (id, name, type, config) VALUES ($1, $1, 'File', $2)`, [targetId, {
        cert_path: cert, key_path: join(dir, `${name}-${i}-key.pem`), validate_command: 'grep -q "BEGIN CERTIFICATE" {cert_path}', reload_command: `test -s ${cert}`,
      }]);
      await db.query(`INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES ('mc-svc', $1)`, [targetId]);
      const jobId = newId('job');
      await db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, status) VALUES ($1, 'Deployment', 'mc-svc', $2, 'Pending')`, [jobId, targetId]);
      out.push({ targetId, jobId, cert });
    }
    return out;
  }

  const jobRow = async (id: string) => (await db.query('SELECT * FROM jobs WHERE id = $1', [id])).rows[0];

  it('jobs running together are claimed and recorded in shared statements, each with its own rows', async () => {
    const jobs = await targetsWithJobs(12, 'group');
    const recordMany = vi.spyOn(store as unknown as { recordMany: (o: JobOutcome[]) => Promise<string[][]> }, 'recordMany');
    const claimMany = vi.spyOn(store as unknown as { claimMany: (ids: string[]) => Promise<unknown[]> }, 'claimMany');
    await Promise.all(jobs.map((j) => service.run(j.jobId)));
    // Fewer transactions than jobs: the outcomes went in groups.
    expect(recordMany.mock.calls.length).toBeLessThan(jobs.length);
    expect(recordMany.mock.calls.flat(1).flat().length).toBe(jobs.length);
    expect(claimMany.mock.calls.length).toBeLessThan(jobs.length);
    recordMany.mockRestore();
    claimMany.mockRestore();

    for (const j of jobs) {
      expect(readFileSync(j.cert, 'utf8')).toContain(certPem.trim());
      const row = await jobRow(j.jobId);
      expect(row).toMatchObject({ status: 'Completed', attempts: 1, verification_status: 'skipped' });
      expect(row.deployment_result).toMatchObject({ outcome: 'deployed', validate_ok: true, reloaded: true });
    }
    const alerts = await db.query(`SELECT message, channel, recipient, details FROM notification_events WHERE type = 'DeploymentSuccess' AND certificate_id = 'mc-svc'`);
    for (const j of jobs) {
      const mine = alerts.rows.filter((r) => r.message === `deployed to target ${j.targetId} (File)`);
      expect(mine.length).toBeGreaterThan(0);
      // Copied alerts carry the routing of the first: recipient and certificate details.
      for (const a of mine.filter((r) => r.channel === 'Email')) expect(a.recipient).toBe('svc@example.com');
      for (const a of mine) expect(a.details).toMatchObject({ certificate_id: 'mc-svc', certificate_name: 'svc', severity: 'info' });
    }
    const audit = await db.query(`SELECT resource_id FROM audit_events WHERE action = 'deployment_job_completed'`);
    expect(audit.rows.map((r) => r.resource_id).sort()).toEqual(jobs.map((j) => j.jobId).sort());
    const chain = await db.query('SELECT * FROM audit_events_verify_chain()');
    expect(chain.rows[0].reason).toBeNull();
    const cert = await db.query(`SELECT last_deployment_at FROM managed_certificates WHERE id = 'mc-svc'`);
    expect(cert.rows[0].last_deployment_at).not.toBeNull();
  });

  it('a bad row fails only its own job: the batch is written again job by job', async () => {
    const jobs = await targetsWithJobs(5, 'fallback');
    for (const j of jobs) await db.query(`UPDATE jobs SET status = 'Running' WHERE id = $1`, [j.jobId]);
    const outcome = (jobId: string, message: string): JobOutcome => ({
      jobId, certificateId: 'mc-svc', onlyIfRunning: true, touchesCertificate: true,
      row: { status: 'Completed', completed_at: new Date(), last_error: null, deployment_result: { outcome: 'deployed', note: message } },
      notification: { type: 'DeploymentSuccess', certificate_id: 'mc-svc', message },
      audit: { action: 'deployment_job_completed', details: { note: message } },
    });
    // PostgreSQL refuses a NUL character in text and jsonb: this job's rows cannot be written.
    const results = await Promise.allSettled(jobs.map((j, i) => store.record(outcome(j.jobId, i === 2 ? 'bad \u0000 row' : `good ${i}`))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    for (const [i, j] of jobs.entries()) {
      const row = await jobRow(j.jobId);
      expect(row.status).toBe(i === 2 ? 'Running' : 'Completed');
      const alerts = await db.query(`SELECT id FROM notification_events WHERE message = $1`, [`good ${i}`]);
      expect(alerts.rows.length).toBe(i === 2 ? 0 : (results[i] as PromiseFulfilledResult<string[]>).value.length);
    }
    const audit = await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE resource_id = ANY($1)`, [jobs.map((j) => j.jobId)]);
    expect(audit.rows[0].n).toBe(4);
  });

  it('a crash between deploying and committing the outcome leaves the job Running; the re-run is an idempotent skip', async () => {
    const [j] = await targetsWithJobs(1, 'crash');
    // Simulated crash: the outcome transaction never happens for the first run.
    const record = vi.spyOn(store, 'record').mockRejectedValueOnce(new Error('simulated crash before commit'));
    await expect(service.run(j!.jobId)).rejects.toThrow('simulated crash before commit');
    record.mockRestore();
    expect(existsSync(j!.cert)).toBe(true);
    expect(await jobRow(j!.jobId)).toMatchObject({ status: 'Running', attempts: 1 });

    await service.run(j!.jobId);
    const row = await jobRow(j!.jobId);
    expect(row).toMatchObject({ status: 'Completed', attempts: 2 });
    expect(row.deployment_result).toMatchObject({ outcome: 'idempotent_skip', skipped_as_idempotent: true, reloaded: false });
    const audit = await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE resource_id = $1`, [j!.jobId]);
    expect(audit.rows[0].n).toBe(1);
  });

  it('a batch deploys its rows; when one must be retried the batch throws, and the retry deploys only the rows not done', async () => {
    const jobs = await targetsWithJobs(6, 'batch');
    // Row 0 was finished before the batch ran (e.g. by an earlier attempt of it).
    await service.run(jobs[0]!.jobId);
    // Row 3's outcome is lost, as when the process dies between deploying and committing: it stays Running.
    const record = vi.spyOn(store, 'record');
    record.mockImplementation(async (outcome) => {
      if (outcome.jobId === jobs[3]!.jobId) throw new Error('simulated crash before commit');
      return DeployStore.prototype.record.call(store, outcome);
    });
    await expect(service.runBatch(jobs.map((j) => j.jobId))).rejects.toThrow('1 of 6 deployments will be retried (first: simulated crash before commit)');
    record.mockRestore();
    expect(await jobRow(jobs[3]!.jobId)).toMatchObject({ status: 'Running', attempts: 1 });
    for (const i of [0, 1, 2, 4, 5]) expect(await jobRow(jobs[i]!.jobId)).toMatchObject({ status: 'Completed', attempts: 1 });
    expect((await jobRow(jobs[0]!.jobId)).deployment_result).toMatchObject({ outcome: 'deployed' });

    // The retry (BullMQ's, or the same job taken over after a crash) claims only row 3: the finished rows are not redone.
    const claimMany = vi.spyOn(store as unknown as { claimMany: (ids: string[]) => Promise<Array<unknown>> }, 'claimMany');
    await service.runBatch(jobs.map((j) => j.jobId));
    const claimed = (await Promise.all(claimMany.mock.results.map((r) => r.value as Promise<Array<unknown>>))).flat().filter(Boolean);
    claimMany.mockRestore();
    expect(claimed).toHaveLength(1);
    const retried = await jobRow(jobs[3]!.jobId);
    expect(retried).toMatchObject({ status: 'Completed', attempts: 2 });
    expect(retried.deployment_result).toMatchObject({ outcome: 'idempotent_skip' });
    for (const i of [0, 1, 2, 4, 5]) expect(await jobRow(jobs[i]!.jobId)).toMatchObject({ status: 'Completed', attempts: 1 });
    const audit = await db.query(`SELECT resource_id, count(*)::int AS n FROM audit_events WHERE resource_id = ANY($1) GROUP BY 1`, [jobs.map((j) => j.jobId)]);
    expect(audit.rows).toHaveLength(6);
    for (const r of audit.rows) expect(r.n).toBe(1);
  });
});

