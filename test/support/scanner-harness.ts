import type { INestApplication } from '@nestjs/common';
import { expect } from 'vitest';
import { createWorkerApp } from '@certctl/observability';
import { SCANNER_FEATURES } from '../../apps/scanner/src/scanner.features';
import { ApiHarness, startApi } from './api-harness';

export interface ScannerHarness extends ApiHarness {
  /** Scanner replicas, each with its own workers on this file's queues. */
  scanners: INestApplication[];
  /** Polls GET /discovery-scans/{id} until its status is one of `statuses`; returns the body. */
  waitForScan(scanId: string, statuses?: string[], timeoutMs?: number): Promise<Record<string, any>>;
}

/**
 * The api and `replicas` scanners in this process, on this file's database and queues. The per-target due
 * check runs hourly here: tests call ScanScheduleService.due() themselves.
 */
export async function startScanner(extraEnv: Record<string, string> = {}, replicas = 1): Promise<ScannerHarness> {
  const api = await startApi({ CERTCTL_NETWORK_SCAN_DUE_CHECK_INTERVAL: '1h', ...extraEnv });
  const scanners: INestApplication[] = [];
  for (let i = 0; i < replicas; i++) {
    const scanner = await createWorkerApp('scanner', SCANNER_FEATURES);
    await scanner.init();
    scanners.push(scanner);
  }
  return {
    ...api,
    scanners,
    async waitForScan(scanId, statuses = ['Completed'], timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let body: Record<string, any> = {};
      while (Date.now() < deadline) {
        body = (await api.http.get(`/api/v1/discovery-scans/${scanId}`).set(api.auth())).body;
        if (statuses.includes(body.status)) return body;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect.fail(`scan ${scanId} did not reach ${statuses.join('/')} within ${timeoutMs} ms (last: ${JSON.stringify(body)})`);
    },
    async close() {
      for (const scanner of scanners) await scanner.close();
      await api.close();
    },
  };
}
