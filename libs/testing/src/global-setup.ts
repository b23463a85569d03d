import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { runMigrations } from '@certctl/db';
import {
  postgresAnswers, redisAnswers, startEmbeddedPostgres, startRedisServer, withDatabase,
} from './local-services';

/**
 * Vitest global setup of the integration and e2e tiers: finds PostgreSQL and Redis (the machine's, else
 * embedded ones), migrates a template database once, and hands both to the test files through the
 * environment. Each test file then copies the template into a database of its own.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  let adminUrl = process.env.CERTCTL_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!(await postgresAnswers(adminUrl))) {
    if (process.env.CERTCTL_TEST_DATABASE_URL) throw new Error(`CERTCTL_TEST_DATABASE_URL does not answer: ${adminUrl}`);
    const pg = await startEmbeddedPostgres(join(process.cwd(), '.data', 'test-postgres'));
    stops.push(pg.stop);
    adminUrl = pg.url;
  }
  let redisUrl = process.env.CERTCTL_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
  if (!(await redisAnswers(redisUrl))) {
    if (process.env.CERTCTL_TEST_REDIS_URL) throw new Error(`CERTCTL_TEST_REDIS_URL does not answer: ${redisUrl}`);
    const redis = await startRedisServer();
    stops.push(redis.stop);
    redisUrl = redis.url;
  }

  const runId = randomBytes(4).toString('hex');
  const template = `certctl_tpl_${runId}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  await runMigrations({ url: withDatabase(adminUrl, template) });

  process.env.CERTCTL_TEST_PG_ADMIN_URL = adminUrl;
  process.env.CERTCTL_TEST_TEMPLATE_DB = template;
  process.env.CERTCTL_TEST_RUN_ID = runId;
  process.env.CERTCTL_TEST_REDIS_URL_RESOLVED = redisUrl;

  return async () => {
    // Drop whatever this run left behind (test files drop their own; a crashed one may not have).
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`, [`t_${runId}_%`, template],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.end();
    for (const stop of stops.reverse()) await stop();
  };
}
