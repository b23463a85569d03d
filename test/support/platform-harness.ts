import type { INestApplication } from '@nestjs/common';
import { expect } from 'vitest';
import { createWorkerApp } from '@certctl/observability';
import { ORCHESTRATOR_FEATURES } from '../../apps/orchestrator/src/orchestrator.features';
import { ApiHarness, startApi } from './api-harness';

export interface PlatformHarness extends ApiHarness {
  orchestrator: INestApplication;
  /** Polls the job row until its status is one of `statuses`; returns the row. */
  waitForJob(jobId: string, statuses: string[], timeoutMs?: number): Promise<Record<string, any>>;
}

/**
 * The api and the orchestrator in this process, on this file's database and queues. Sweeps are not on a
 * timer here (intervals of an hour): tests call the sweep services themselves.
 */
export async function startPlatform(extraEnv: Record<string, string> = {}): Promise<PlatformHarness> {
  const api = await startApi({
    CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL: '1h', CERTCTL_SCHEDULER_JOB_TIMEOUT_INTERVAL: '1h',
    CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL: '1h', CERTCTL_SCHEDULER_RECONCILE_INTERVAL: '1h',
    CERTCTL_SCHEDULER_ARI_CHECK_INTERVAL: '1h',
    CERTCTL_ISSUANCE_RETRY_BASE_DELAY: '50ms', CERTCTL_KEYGEN_MODE: 'agent',
    ...extraEnv,
  });
  const orchestrator = await createWorkerApp('orchestrator', ORCHESTRATOR_FEATURES);
  await orchestrator.init();
  const harness: PlatformHarness = {
    ...api,
    orchestrator,
    async waitForJob(jobId, statuses, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let row: Record<string, any> | undefined;
      while (Date.now() < deadline) {
        row = (await api.db.query('SELECT * FROM jobs WHERE id = $1', [jobId])).rows[0];
        if (row && statuses.includes(row.status)) return row;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect.fail(`job ${jobId} did not reach ${statuses.join('/')} within ${timeoutMs} ms (last: ${row?.status}, ${row?.last_error})`);
    },
    async close() {
      // The orchestrator a test restarted (harness.orchestrator replaced), else the first one.
      await harness.orchestrator.close();
      await api.close();
    },
  };
  return harness;
}
