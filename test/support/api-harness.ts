import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';
import { createApiApp } from '../../apps/api/src/app.factory';
import { AuditService } from '../../apps/api/src/common/audit/audit.service';

export interface ApiHarness {
  app: INestApplication;
  env: TestEnvironment;
  adminKey: string;
  /** supertest against the app, with no credentials. */
  http: TestAgent;
  /** Headers carrying a bearer key. */
  auth(key?: string): { Authorization: string };
  /** A direct connection to this file's database, for setting up and checking rows the API does not expose. */
  db: Client;
  /** Waits for audit writes made after responses went out. */
  flushAudit(): Promise<void>;
  close(): Promise<void>;
}

/** The api app on this test file's own database and queue prefix, with a bootstrap admin key. */
export async function startApi(extraEnv: Record<string, string> = {}): Promise<ApiHarness> {
  const env = await createTestEnvironment();
  const adminKey = `test-admin-${randomBytes(12).toString('hex')}`;
  Object.assign(process.env, env.env, { CERTCTL_API_KEY: adminKey, CERTCTL_AUTH_TYPE: 'api-key' }, extraEnv);
  const app = await createApiApp();
  await app.init();
  const http = request(app.getHttpServer());
  const db = new Client({ connectionString: env.databaseUrl });
  await db.connect();
  return {
    app,
    env,
    adminKey,
    http,
    db,
    auth: (key = adminKey) => ({ Authorization: `Bearer ${key}` }),
    flushAudit: () => app.get(AuditService).flush(),
    async close() {
      await db.end();
      await app.close();
      await env.destroy();
    },
  };
}
