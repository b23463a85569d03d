import { ChildProcess, spawn } from 'node:child_process';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueNotifications, JobProducer, newId } from '@certctl/db';
import { createWorkerApp } from '@certctl/observability';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { ApiHarness, startApi } from '../support/api-harness';
import { SourceAppProcess } from '../support/source-app-process';
import { HttpSink, startHttpSink, waitFor } from '../support/notifier-peers';
import { freePort } from '@certctl/testing';

/** Notifier settings that make retries, stall detection and reconciling happen within seconds. */
const FAST = {
  CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true',
  CERTCTL_NOTIFICATION_BACKOFF_BASE: '20ms',
  CERTCTL_NOTIFICATION_BACKOFF_MAX: '200ms',
  CERTCTL_NOTIFICATION_RETRY_INTERVAL: '1s',
  CERTCTL_QUEUE_LOCK_DURATION: '3s',
  CERTCTL_QUEUE_STALLED_INTERVAL: '1s',
  CERTCTL_NOTIFICATION_CONCURRENCY: '50',
};

/** Inserts `count` pending Webhook rows (as a producer's transaction would) and enqueues them after commit. */
async function raiseMany(api: ApiHarness, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId('notification'));
  await api.db.query(
    `INSERT INTO notification_events (id, type, channel, recipient, message, status, details)
     SELECT id, 'ExpirationWarning', 'Webhook', '', 'load ' || id, 'pending', '{"severity":"warning"}'::jsonb FROM unnest($1::text[]) AS id`,
    [ids],
  );
  await enqueueNotifications(api.app.get(JobProducer), ids);
  return ids;
}

async function statusCounts(api: ApiHarness): Promise<Record<string, number>> {
  const { rows } = await api.db.query(`SELECT status, count(*)::int AS n FROM notification_events GROUP BY status`);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** Deliveries the sink accepted, per idempotency key. */
function acceptedByKey(sink: HttpSink, accepted: Set<object>): Map<string, number> {
  const byKey = new Map<string, number>();
  for (const req of sink.requests) {
    if (!accepted.has(req)) continue;
    const key = String(req.headers['x-certctl-idempotency-key']);
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
  }
  return byKey;
}

describe('notifier reliability', () => {
  describe('SIGKILL mid-delivery', () => {
    let sink: HttpSink;
    let api: ApiHarness;
    const accepted = new Set<object>();
    let notifier: SourceAppProcess | undefined;

    beforeAll(async () => {
      sink = await startHttpSink();
      // Fails 30 % of calls at random.
      sink.respond = (req) => {
        if (Math.random() < 0.3) return 503;
        accepted.add(req);
        return 200;
      };
      api = await startApi({ ...FAST, CERTCTL_WEBHOOK_URL: `${sink.url}/hook` });
    });
    afterAll(async () => {
      await notifier?.stop();
      await api?.close();
      await sink?.close();
    });

    it('loses no alert over 2,000 notifications while the notifier is killed and restarted twice', { timeout: 150_000 }, async () => {
      const ids = await raiseMany(api, 2_000);
      const env = { ...api.env.env, ...FAST, CERTCTL_WEBHOOK_URL: `${sink.url}/hook` };
      const finished = async () => { const c = await statusCounts(api); return (c.sent ?? 0) + (c.dead ?? 0); };

      for (const killAt of [500, 1_200]) {
        notifier = await SourceAppProcess.start('notifier', { ...env, CERTCTL_NOTIFIER_PORT: '0' }, 30_000);
        await waitFor(`${killAt} rows finished`, async () => (await finished()) >= killAt, 60_000);
        await notifier.kill();
        // The kill really cut the run short.
        expect(await finished()).toBeLessThan(ids.length);
      }
      notifier = await SourceAppProcess.start('notifier', { ...env, CERTCTL_NOTIFIER_PORT: '0' }, 30_000);
      const counts = await waitFor('every row sent or dead', async () => {
        const c = await statusCounts(api);
        return (c.sent ?? 0) + (c.dead ?? 0) === ids.length && c;
      }, 90_000, 250);
      await notifier.stop();

      expect(counts.pending ?? 0).toBe(0);
      expect(counts.failed ?? 0).toBe(0);
      const { rows } = await api.db.query(`SELECT id, status, retry_count, last_error FROM notification_events`);
      const delivered = acceptedByKey(sink, accepted);
      const sent = rows.filter((r) => r.status === 'sent');
      // None lost: every sent row reached the sink at least once under its idempotency key.
      expect(sent.filter((r) => !delivered.has(r.id))).toEqual([]);
      // Dead rows exhausted their attempts (0.3^5 of them, give or take the kills) and say why.
      for (const dead of rows.filter((r) => r.status === 'dead')) {
        expect(dead.last_error).toMatch(/^gave up after \d+ attempts: HTTP 503/);
      }
      const deliveries = [...delivered.values()].reduce((a, b) => a + b, 0);
      const duplicates = deliveries - delivered.size;
      // At least once: duplicates come only from deliveries cut off by a kill (at most the jobs in flight).
      expect(duplicates).toBeLessThanOrEqual(2 * Number(FAST.CERTCTL_NOTIFICATION_CONCURRENCY));
      process.stdout.write(`[notifier SIGKILL test] rows=${ids.length} sent=${sent.length} dead=${counts.dead ?? 0} ` +
        `sink calls=${sink.requests.length} accepted=${deliveries} duplicate deliveries=${duplicates}\n`);
    });
  });

  describe('Redis restarted during delivery', () => {
    let redis: ChildProcess | undefined;
    let redisPort: number;
    let sink: HttpSink;
    let api: ApiHarness;
    let notifier: INestApplication;

    async function startRedis(): Promise<void> {
      redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitFor('redis up', async () => {
        const probe = new Redis(redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        try { await probe.connect(); return (await probe.ping()) === 'PONG'; } catch { return false; } finally { probe.disconnect(); }
      }, 10_000);
    }

    beforeAll(async () => {
      redisPort = await freePort();
      await startRedis();
      sink = await startHttpSink();
      // A little slow, so that deliveries are in flight when Redis goes away.
      sink.respond = () => sleep(5).then(() => 200);
      api = await startApi({ ...FAST, CERTCTL_WEBHOOK_URL: `${sink.url}/hook`, CERTCTL_REDIS_URL: `redis://127.0.0.1:${redisPort}` });
      notifier = await createWorkerApp('notifier', [NotifierModule]);
      await notifier.init();
    });
    afterAll(async () => {
      await notifier?.close();
      await api?.close();
      await sink?.close();
      redis?.kill('SIGKILL');
    });

    it('reconnects, and the reconciler re-enqueues the rows whose jobs vanished with Redis', { timeout: 90_000 }, async () => {
      const ids = await raiseMany(api, 1_500);
      await waitFor('some delivered', async () => ((await statusCounts(api)).sent ?? 0) >= 100, 30_000);

      // An unpersisted Redis restarted: every queued job is gone.
      redis!.kill('SIGKILL');
      await new Promise((r) => redis!.once('exit', r));
      await sleep(500);
      await startRedis();
      const fresh = new Redis(redisPort, '127.0.0.1');
      const keysAfterRestart = await fresh.dbsize();
      fresh.disconnect();
      expect(keysAfterRestart).toBe(0);
      const stranded = (await statusCounts(api)).pending ?? 0;
      expect(stranded).toBeGreaterThan(0);

      const counts = await waitFor('all sent', async () => {
        const c = await statusCounts(api);
        return c.sent === ids.length && c;
      }, 60_000, 200);
      expect(counts).toEqual({ sent: ids.length });
      const delivered = new Set(sink.requests.map((r) => String(r.headers['x-certctl-idempotency-key'])));
      expect(ids.filter((id) => !delivered.has(id))).toEqual([]);
    });
  });
});
