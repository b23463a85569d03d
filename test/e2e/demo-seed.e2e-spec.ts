import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp } from '@certctl/observability';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { RenewalSweepService } from '../../apps/orchestrator/src/modules/scheduler/renewal-sweep.service';
import { ORCHESTRATOR_FEATURES } from '../../apps/orchestrator/src/orchestrator.features';
import { seedDemoInventory } from '../../scripts/demo-seed';

/** The demo inventory tells the truth: its states survive the first sweep, and its targets can each work. */
describe('demo inventory', () => {
  let env: TestEnvironment;
  let db: Client;
  let orchestrator: INestApplication;
  const deployRoot = mkdtempSync(join(tmpdir(), 'certctl-demo-'));

  beforeAll(async () => {
    env = await createTestEnvironment();
    Object.assign(process.env, env.env);
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    expect(await seedDemoInventory(env.databaseUrl, deployRoot)).toBe(6);
    expect(await seedDemoInventory(env.databaseUrl, deployRoot)).toBe(0);
    orchestrator = await createWorkerApp('orchestrator', ORCHESTRATOR_FEATURES);
    await orchestrator.init();
  });
  afterAll(async () => {
    await orchestrator?.close();
    await db?.end();
    await env?.destroy();
    rmSync(deployRoot, { recursive: true, force: true });
  });

  const statuses = async () =>
    Object.fromEntries((await db.query(`SELECT id, status FROM managed_certificates ORDER BY id`)).rows.map((r) => [r.id, r.status]));

  it('keeps showing expiring, expired and failed certificates after the renewal sweep (no renewal before the banner)', async () => {
    const before = await statuses();
    expect(Object.values(before)).toEqual(expect.arrayContaining(['Active', 'Expiring', 'Expired', 'Failed', 'Pending']));
    const result = await orchestrator.get(RenewalSweepService).sweep();
    expect(result.renewalsOpened).toBe(0);
    expect(await statuses()).toEqual(before);
    const { rows: open } = await db.query(`SELECT id FROM jobs WHERE type IN ('Issuance', 'Renewal') AND status NOT IN ('Failed', 'Completed', 'Cancelled')`);
    expect(open).toEqual([]);
    const { rows: failed } = await db.query(`SELECT last_error FROM jobs WHERE certificate_id = 'mc-reports' AND status = 'Failed'`);
    expect(failed[0].last_error).toMatch(/demo/);
  });

  it('gives each File target one certificate and its own directory; the Kubernetes target says it needs a cluster', async () => {
    const { rows: files } = await db.query(`
      SELECT t.id, t.config->>'cert_path' AS cert_path, count(m.certificate_id)::int AS certificates
      FROM deployment_targets t LEFT JOIN certificate_target_mappings m ON m.target_id = t.id
      WHERE t.type = 'File' GROUP BY t.id, t.config`);
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) expect(f.certificates, f.id).toBeLessThanOrEqual(1);
    expect(new Set(files.map((f) => f.cert_path)).size).toBe(files.length);
    for (const f of files) expect(f.cert_path.startsWith(deployRoot), f.cert_path).toBe(true);
    const { rows: kube } = await db.query(`SELECT name FROM deployment_targets WHERE type = 'KubernetesSecrets'`);
    expect(kube.map((k) => k.name)).toEqual([expect.stringMatching(/needs a Kubernetes cluster/)]);
  });

  it('sends the demo\'s alerts to the Webhook channel, not Email', async () => {
    const { rows } = await db.query(`SELECT DISTINCT p.alert_channels FROM managed_certificates c JOIN renewal_policies p ON p.id = c.renewal_policy_id`);
    expect(rows).toEqual([{ alert_channels: { critical: ['Webhook'], warning: ['Webhook'], info: ['Webhook'] } }]);
  });
});
