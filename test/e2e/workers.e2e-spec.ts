import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp, WorkerName } from '@certctl/observability';
import { createTestEnvironment, TestEnvironment } from '@certctl/testing';

/** The three workers boot, reach PostgreSQL and Redis, and report health, readiness and metrics. */
describe.each<WorkerName>(['orchestrator', 'notifier', 'scanner'])('%s worker', (name) => {
  let env: TestEnvironment;
  let app: INestApplication;

  beforeAll(async () => {
    env = await createTestEnvironment();
    Object.assign(process.env, env.env);
    app = await createWorkerApp(name);
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await env?.destroy();
  });

  it('serves /health, /ready and /metrics', async () => {
    const http = request(app.getHttpServer());
    await http.get('/health').expect(200, { status: 'healthy' });
    const ready = await http.get('/ready').expect(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', redis: 'ok' } });
    const metrics = await http.get('/metrics').expect(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.text).toContain(`process_cpu_user_seconds_total{app="${name}"}`);
    expect(metrics.text).toContain('http_request_duration_seconds_bucket');
  });
});

describe('readiness when a dependency is missing', () => {
  let env: TestEnvironment;
  let app: INestApplication;

  beforeAll(async () => {
    env = await createTestEnvironment();
    // A database without the schema: connected, but not migrated.
    const bare = new URL(env.databaseUrl);
    bare.pathname = '/postgres';
    Object.assign(process.env, env.env, { CERTCTL_DATABASE_URL: bare.toString() });
    app = await createWorkerApp('scanner');
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await env?.destroy();
  });

  it('answers 503 naming the failed check while staying alive', async () => {
    const http = request(app.getHttpServer());
    await http.get('/health').expect(200);
    const ready = await http.get('/ready').expect(503);
    expect(ready.body).toMatchObject({ status: 'not_ready', checks: { database: 'ok', redis: 'ok', migrations: 'pending migrations' } });
  });
});
