import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { TEST_DEPLOY_ENV } from './deploy-policy';
import { withDatabase } from './local-services';

export interface TestEnvironment {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  /** Environment variables an app under test needs to use this file's database and queues. */
  env: Record<string, string>;
  /** Drops the database and deletes this file's queue keys. */
  destroy(): Promise<void>;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through vitest (npm test), whose global setup sets it`);
  return value;
}

/**
 * A database of this test file's own, copied from the migrated template, and a BullMQ prefix of its own,
 * so files run in parallel and leave nothing behind.
 */
export async function createTestEnvironment(): Promise<TestEnvironment> {
  const adminUrl = required('CERTCTL_TEST_PG_ADMIN_URL');
  const template = required('CERTCTL_TEST_TEMPLATE_DB');
  const redisUrl = required('CERTCTL_TEST_REDIS_URL_RESOLVED');
  const suffix = randomBytes(5).toString('hex');
  const database = `t_${required('CERTCTL_TEST_RUN_ID')}_${suffix}`;
  const queuePrefix = `certctl-test-${suffix}`;

  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    // Copies of one template made at the same moment can collide ("being accessed by other users"): retry.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${database} TEMPLATE ${template}`);
        break;
      } catch (err) {
        if (attempt >= 20 || !String(err).includes('being accessed by other users')) throw err;
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }

  const databaseUrl = withDatabase(adminUrl, database);
  return {
    databaseUrl,
    redisUrl,
    queuePrefix,
    env: {
      CERTCTL_DATABASE_URL: databaseUrl,
      CERTCTL_REDIS_URL: redisUrl,
      CERTCTL_QUEUE_PREFIX: queuePrefix,
      CERTCTL_LOG_LEVEL: process.env.CERTCTL_TEST_LOG_LEVEL ?? 'error',
      CERTCTL_CONFIG_ENCRYPTION_KEY: `test-encryption-key-${randomBytes(16).toString('hex')}`,
      // Deploy tests write under the temp directory and run their fixtures' commands: allowed here, as an admin would.
      ...TEST_DEPLOY_ENV,
    },
    async destroy() {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${queuePrefix}:*`, 'COUNT', 500);
          cursor = next;
          if (keys.length) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
      const cleanup = new Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => cleanup.end());
    },
  };
}
