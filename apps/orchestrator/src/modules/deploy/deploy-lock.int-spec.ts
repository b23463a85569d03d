import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { newId } from '@certctl/db';
import { LeaseLostError } from '@certctl/deploy';
import { createWorkerApp } from '@certctl/observability';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { seedIssuedCertificate, TestCa } from '../../../../../libs/deploy/src/testing/material';
import { DeployModule } from './deploy.module';
import { DeployService } from './deploy.service';
import { RedisLocks } from './redis-locks';

/** The deploy worker against real PostgreSQL and Redis when its per-target lock is taken from it mid-deploy. */
describe('orchestrator DeployService with a lost deploy lock', () => {
  let env: TestEnvironment;
  let app: INestApplication;
  let db: Client;
  let redis: Redis;
  let dir: string;
  let certPem: string;

  beforeAll(async () => {
    env = await createTestEnvironment();
    Object.assign(process.env, env.env);
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    redis = new Redis(env.redisUrl);
    dir = mkdtempSync(join(tmpdir(), 'deploy-lock-service-'));
    const material = await (await TestCa.create()).issue(['svc.example.com']);
    certPem = material.certPem;
    await seedIssuedCertificate(db, 'svc', material, env.env.CERTCTL_CONFIG_ENCRYPTION_KEY!);
    app = await createWorkerApp('orchestrator', [DeployModule]);
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await db?.end();
    redis?.disconnect();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await env?.destroy();
  });

  it('a deployment whose lock another replica took while it validated writes nothing, goes back to Pending, and its retry deploys', async () => {
    const targetId = 't-slow';
    const cert = join(dir, 'slow-cert.pem');
    // A slow validate step: the window in which the lease is lost.
    await db.query(`INSERT INTO deployment_targets (id, name, type, config) VALUES ($1, $1, 'File', $2)`, [targetId, {
      cert_path: cert, key_path: join(dir, 'slow-key.pem'), validate_command: 'sleep 2',
    }]);
    await db.query(`INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES ('mc-svc', $1)`, [targetId]);
    const jobId = newId('job');
    await db.query(`INSERT INTO jobs (id, type, certificate_id, target_id, status) VALUES ($1, 'Deployment', 'mc-svc', $2, 'Pending')`, [jobId, targetId]);

    const service = app.get(DeployService);
    const run = service.run(jobId);
    run.catch(() => undefined);
    // Once the deploy holds the target, its key vanishes (as in a Redis failover) and another replica takes the target.
    const key = `${app.get<AppConfig>(APP_CONFIG).redis.queuePrefix}:deploy-lock:target:${targetId}`;
    const deadline = Date.now() + 10_000;
    while (!(await redis.exists(key))) {
      expect(Date.now(), 'the deploy never took its lock').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    await redis.del(key);
    const otherReplica = new RedisLocks(redis, app.get(APP_CONFIG));
    const taken = await otherReplica.acquire([`target:${targetId}`], { waitMs: 0 });

    await expect(run).rejects.toBeInstanceOf(LeaseLostError);
    expect(existsSync(cert)).toBe(false);
    const row = (await db.query('SELECT status, last_error FROM jobs WHERE id = $1', [jobId])).rows[0];
    expect(row.status).toBe('Pending');
    expect(row.last_error).toMatch(/deploy lock on target:t-slow lost \(fencing token \d+\): another holder acquired the lock since/);

    // The other holder is done: the retry deploys.
    await taken.release();
    await otherReplica.onModuleDestroy();
    await service.run(jobId);
    expect((await db.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows[0].status).toBe('Completed');
    expect(readFileSync(cert, 'utf8')).toContain(certPem.trim());
  });
});
