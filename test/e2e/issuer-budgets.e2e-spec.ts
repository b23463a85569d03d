import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { waitFor } from '../support/notifier-peers';
import { SourceAppProcess } from '../support/source-app-process';

/** The budget: 3 orders per WINDOW_S seconds. Short enough for a test, long enough to see the waiting state. */
const BUDGET = 3;
const WINDOW_S = 10;
const JOBS = 7;

/**
 * Per-CA budgets across two real orchestrator processes (apps/orchestrator from source, on this file's Postgres and
 * Redis) sharing one Local CA issuer that allows 3 issuances per 10 s: 7 renewals issue 3, then 3, then 1, one
 * window apart; the ones waiting are Pending with "waiting for CA budget" and the time it frees, through the jobs
 * API and the gauges; none fails or spends an attempt waiting.
 */
describe('per-CA budget shared by two orchestrator processes', () => {
  let api: ApiHarness;
  let inv: Inventory;
  const orchestrators: SourceAppProcess[] = [];
  const metricsPorts: number[] = [];

  beforeAll(async () => {
    api = await startApi({ CERTCTL_KEYGEN_MODE: 'server' });
    inv = await createInventory(api);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(orchestrators.map((o) => o.stop()));
    await api?.close();
  });

  const job = async (id: string) => (await api.http.get(`/api/v1/jobs/${id}`).set(api.auth()).expect(200)).body as Record<string, any>;

  it('refuses a budget with a zero or negative window or limit with a 400 naming the field', async () => {
    const limit = { name: 'orders', limit: 3, window_seconds: 60, per: 'account' };
    const zeroWindow = await api.http.post('/api/v1/issuers').set(api.auth())
      .send({ name: unique('budget'), type: 'GenericCA', config: { rate_limits: [{ ...limit, window_seconds: 0 }] } });
    expect(zeroWindow.status).toBe(400);
    expect(zeroWindow.body.details).toEqual([expect.objectContaining({ field: 'config.rate_limits[0].window_seconds' })]);
    const negativeLimit = await api.http.put(`/api/v1/issuers/${inv.issuerId}`).set(api.auth())
      .send({ config: { rate_limits: [limit, { ...limit, name: 'weekly', limit: -1 }] } });
    expect(negativeLimit.status).toBe(400);
    expect(negativeLimit.body.details).toEqual([expect.objectContaining({ field: 'config.rate_limits[1].limit' })]);
    const negativeWindow = await api.http.put(`/api/v1/issuers/${inv.issuerId}`).set(api.auth())
      .send({ config: { rate_limits: [{ ...limit, window_seconds: -60 }] } });
    expect(negativeWindow.status).toBe(400);
    expect(negativeWindow.body.details).toEqual([expect.objectContaining({ field: 'config.rate_limits[0].window_seconds' })]);
    const badScope = await api.http.put(`/api/v1/issuers/${inv.issuerId}`).set(api.auth()).send({ config: { rate_limits: [{ ...limit, per: 'team' }] } });
    expect(badScope.status).toBe(400);
    expect(badScope.body.details[0].field).toBe('config.rate_limits[0].per');
    await api.http.put('/api/v1/issuers/iss-nonexistent').set(api.auth()).send({ config: { rate_limits: [limit] } }).expect(404);
    await api.http.get('/api/v1/issuers/iss-nonexistent/budget').set(api.auth()).expect(404);
  });

  it("an ACME issuer on Let's Encrypt's directory gets its published limits unless it declares its own; a Local CA has none", async () => {
    const le = await post(api, '/api/v1/issuers', { name: unique('le'), type: 'ACME', config: { directory_url: 'https://acme-v02.api.letsencrypt.org/directory', email: 'ops@example.com' } });
    const budget = (await api.http.get(`/api/v1/issuers/${le.id}/budget`).set(api.auth()).expect(200)).body;
    expect(budget).toMatchObject({ issuer_id: le.id, source: 'ca_default' });
    expect(budget.limits).toEqual([
      { name: 'new_orders_per_account', limit: 300, window_seconds: 10800, per: 'account', remaining: 300 },
      { name: 'certificates_per_registered_domain', limit: 50, window_seconds: 604800, per: 'registered_domain', remaining: 50 },
      { name: 'certificates_per_exact_names', limit: 5, window_seconds: 604800, per: 'exact_names', remaining: 5 },
    ]);
    await api.http.put(`/api/v1/issuers/${le.id}`).set(api.auth())
      .send({ config: { directory_url: 'https://acme-v02.api.letsencrypt.org/directory', rate_limits: [] } }).expect(200);
    expect((await api.http.get(`/api/v1/issuers/${le.id}/budget`).set(api.auth()).expect(200)).body).toMatchObject({ source: 'declared', limits: [] });
    expect((await api.http.get(`/api/v1/issuers/${inv.issuerId}/budget`).set(api.auth()).expect(200)).body).toMatchObject({ source: 'none', limits: [] });
  });

  it('issues exactly the budget per window across both replicas; the rest wait, visibly, and complete once it frees', async () => {
    const issuer = await post(api, '/api/v1/issuers', {
      name: unique('budget'), type: 'GenericCA', config: { rate_limits: [{ name: 'orders', limit: BUDGET, window_seconds: WINDOW_S, per: 'account' }] },
    });
    expect((await api.http.get(`/api/v1/issuers/${issuer.id}`).set(api.auth()).expect(200)).body.config.rate_limits).toEqual([
      { name: 'orders', limit: BUDGET, window_seconds: WINDOW_S, per: 'account' },
    ]);
    for (let i = 0; i < 2; i++) metricsPorts.push(await freePort());
    orchestrators.push(...(await Promise.all(metricsPorts.map((port) => SourceAppProcess.start('orchestrator', {
      CERTCTL_ORCHESTRATOR_PORT: String(port), CERTCTL_KEYGEN_MODE: 'server', CERTCTL_SCHEDULER_RECONCILE_INTERVAL: '1h',
    }, 120_000)))));

    const jobIds: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const cert = await post(api, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id }));
      jobIds.push((await api.http.post(`/api/v1/certificates/${cert.id}/renew`).set(api.auth()).send({}).expect(202)).body.job_id);
    }
    const statuses = async () => Promise.all(jobIds.map(job));

    // First window: 3 issued, 4 waiting (Pending, with the reason and the time the budget frees).
    const first = await waitFor('3 jobs completed and 4 waiting for CA budget', async () => {
      const all = await statuses();
      const waiting = all.filter((j) => j.status === 'Pending' && j.wait_reason);
      return all.filter((j) => j.status === 'Completed').length === BUDGET && waiting.length === JOBS - BUDGET ? all : undefined;
    }, 60_000, 100);
    const spends = async () => (await api.db.query(
      `SELECT (extract(epoch FROM spent_at) * 1000)::bigint::float8 AS at, member, reserved_by FROM issuer_budget_spends WHERE issuer_id = $1 ORDER BY spent_at`, [issuer.id],
    )).rows as Array<{ at: number; member: string; reserved_by: string }>;
    const firstSpends = await spends();
    expect(firstSpends).toHaveLength(BUDGET);
    // Each waiter is told its own turn: the three slots free one window after they were taken, the fourth waiter
    // gets the first of them again one window later.
    const W = WINDOW_S * 1000;
    const turns = [firstSpends[0]!.at + W, firstSpends[1]!.at + W, firstSpends[2]!.at + W, firstSpends[0]!.at + 2 * W].map((t) => new Date(t).toISOString());
    const waitingJobs = first.filter((j) => j.status === 'Pending');
    expect(waitingJobs.map((j) => new Date(j.scheduled_at).toISOString()).sort()).toEqual([...turns].sort());
    for (const waiting of waitingJobs) {
      expect(waiting.wait_reason).toBe(`waiting for CA budget: orders of issuer ${issuer.id} frees at ${new Date(waiting.scheduled_at).toISOString()}`);
      expect(waiting.attempts).toBe(0);
    }
    // Redis loses the budget (its keys deleted) while the window is full: a renewal asked for now must still wait,
    // the window being rebuilt from PostgreSQL (checked below: never more than the budget in any window).
    const redis = new Redis(api.env.redisUrl);
    const budgetKeys = await redis.keys(`${api.env.queuePrefix}:{budget:${issuer.id}}*`);
    expect(budgetKeys.length).toBeGreaterThan(0);
    await redis.del(...budgetKeys);
    redis.disconnect();
    const extra = await post(api, '/api/v1/certificates', certificateBody({ ...inv, issuerId: issuer.id }));
    jobIds.push((await api.http.post(`/api/v1/certificates/${extra.id}/renew`).set(api.auth()).send({}).expect(202)).body.job_id);

    // The jobs list shows them too.
    const pending = (await api.http.get('/api/v1/jobs?status=Pending&per_page=100').set(api.auth()).expect(200)).body.data as Array<Record<string, any>>;
    const listed = pending.filter((j) => waitingJobs.some((w) => w.id === j.id));
    expect(listed).toHaveLength(JOBS - BUDGET);
    expect(listed.every((j) => /^waiting for CA budget/.test(j.wait_reason))).toBe(true);

    // The gauge, on both orchestrators' /metrics and the api's cluster-wide endpoint: nothing left in this window.
    const gaugeLine = new RegExp(`^certctl_issuer_budget_remaining\\{[^}]*issuer_id="${issuer.id}"[^}]*\\} (\\d+)$`, 'm');
    for (const port of metricsPorts) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text.match(gaugeLine)?.[1], `orchestrator :${port}`).toBe('0');
      expect(text).toMatch(new RegExp(`^certctl_issuer_budget_limit\\{[^}]*issuer_id="${issuer.id}"[^}]*\\} ${BUDGET}$`, 'm'));
    }
    const clusterWide = (await api.http.get('/api/v1/metrics/prometheus').set(api.auth()).expect(200)).text;
    expect(clusterWide.match(gaugeLine)?.[1]).toBe('0');
    const budgetView = (await api.http.get(`/api/v1/issuers/${issuer.id}/budget`).set(api.auth()).expect(200)).body;
    expect(budgetView).toMatchObject({ source: 'declared', limits: [{ name: 'orders', limit: BUDGET, window_seconds: WINDOW_S, per: 'account', remaining: 0 }] });

    // Then everyone completes, each in a later window.
    const done = await waitFor('every job completed', async () => {
      const all = await statuses();
      return all.every((j) => j.status === 'Completed') ? all : undefined;
    }, 90_000, 100);
    const all = await spends();
    expect(all).toHaveLength(JOBS + 1);
    // Never more than the budget inside any window: the (i+3)-th slot is at least a window after the i-th.
    for (let i = 0; i + BUDGET < all.length; i++) expect(all[i + BUDGET]!.at - all[i]!.at).toBeGreaterThanOrEqual(WINDOW_S * 1000);
    // One slot per job, one attempt per job (waiting spent none), one version per job, nothing failed.
    expect(new Set(all.map((s) => s.member.split(':')[0])).size).toBe(JOBS + 1);
    expect(done.map((j) => j.attempts)).toEqual(jobIds.map(() => 1));
    expect(done.map((j) => j.wait_reason ?? null)).toEqual(jobIds.map(() => null));
    const versions = await api.db.query(`SELECT job_id FROM certificate_versions WHERE job_id = ANY($1)`, [jobIds]);
    expect(versions.rows).toHaveLength(JOBS + 1);
    // The jobs that waited completed after the budget freed.
    const waitedIds = first.filter((j) => j.status === 'Pending').map((j) => j.id);
    for (const j of done.filter((d) => waitedIds.includes(d.id))) expect(new Date(j.completed_at).getTime()).toBeGreaterThanOrEqual(firstSpends[0]!.at + WINDOW_S * 1000);
  }, 240_000);
});
