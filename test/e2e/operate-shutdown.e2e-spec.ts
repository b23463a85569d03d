import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueNotifications, JobProducer, newId } from '@certctl/db';
import { ApiHarness, startApi } from '../support/api-harness';
import { HttpSink, startHttpSink, waitFor } from '../support/notifier-peers';

const ROOT = resolve(__dirname, '..', '..');
const SETTINGS = { CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true', CERTCTL_NOTIFICATION_CONCURRENCY: '10' };
const DELIVERY_MS = 1_500;

/** A worker's main.ts as a child process (swc on the fly), with its exit code and signal. */
function startWorker(app: 'notifier', env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ['-r', resolve(ROOT, 'test/support/swc-register.cjs'), resolve(ROOT, `apps/${app}/src/main.ts`)], {
    cwd: ROOT, env: { ...process.env, ...env, CERTCTL_NOTIFIER_PORT: '0', CERTCTL_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (b: Buffer) => (output = (output + b.toString('utf8')).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  return { child, exited, logs: () => output };
}

/** SIGTERM: a worker stops taking jobs, finishes the ones it runs, and exits 0; nothing it had taken is lost. */
describe('graceful shutdown on SIGTERM', () => {
  let sink: HttpSink;
  let api: ApiHarness;
  let worker: ReturnType<typeof startWorker> | undefined;

  beforeAll(async () => {
    sink = await startHttpSink();
    sink.respond = async () => {
      await sleep(DELIVERY_MS);
      return 200;
    };
    api = await startApi({ ...SETTINGS, CERTCTL_WEBHOOK_URL: `${sink.url}/hook` });
  });
  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await api?.close();
    await sink?.close();
  });

  it('the notifier finishes the deliveries in flight, then exits 0; the rest wait in the queue for the next replica', { timeout: 60_000 }, async () => {
    worker = startWorker('notifier', { ...api.env.env, ...SETTINGS, CERTCTL_WEBHOOK_URL: `${sink.url}/hook` });
    await waitFor('notifier ready', () => worker!.logs().includes('notifier ready') || worker!.child.exitCode !== null, 30_000);
    expect(worker.child.exitCode, worker.logs()).toBeNull();

    const inFlight = Array.from({ length: 3 }, () => newId('notification'));
    await api.db.query(
      `INSERT INTO notification_events (id, type, channel, recipient, message, status, details)
       SELECT id, 'ExpirationWarning', 'Webhook', '', 'shutdown ' || id, 'pending', '{"severity":"warning"}'::jsonb FROM unnest($1::text[]) AS id`,
      [inFlight],
    );
    await enqueueNotifications(api.app.get(JobProducer), inFlight);
    await waitFor('three deliveries in flight', () => sink.requests.length >= 3, 20_000);

    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    const tookMs = Date.now() - signalledAt;
    expect(exit, worker.logs()).toEqual({ code: 0, signal: null });
    // It waited for the slow deliveries rather than dropping them, and did not hang.
    expect(tookMs).toBeLessThan(15_000);

    const { rows } = await api.db.query(`SELECT id, status FROM notification_events WHERE id = ANY($1) ORDER BY id`, [inFlight]);
    expect(rows.map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
    expect(sink.requests).toHaveLength(3);

    // Work raised after the shutdown stays queued and is delivered by the next notifier.
    const later = newId('notification');
    await api.db.query(
      `INSERT INTO notification_events (id, type, channel, recipient, message, status, details)
       VALUES ($1, 'ExpirationWarning', 'Webhook', '', 'later', 'pending', '{"severity":"warning"}'::jsonb)`,
      [later],
    );
    await enqueueNotifications(api.app.get(JobProducer), [later]);
    await sleep(300);
    expect((await api.db.query('SELECT status FROM notification_events WHERE id = $1', [later])).rows[0].status).toBe('pending');
    worker = startWorker('notifier', { ...api.env.env, ...SETTINGS, CERTCTL_WEBHOOK_URL: `${sink.url}/hook` });
    await waitFor('the next notifier delivers it', async () =>
      (await api.db.query('SELECT status FROM notification_events WHERE id = $1', [later])).rows[0].status === 'sent', 30_000);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  });
});
