import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import { dump, loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from '@certctl/contracts';
import { DEPLOY_COUNTERS } from '@certctl/deploy';
import { JobProducer } from '@certctl/db';
import { ClusterCounters, createWorkerApp, WorkerName } from '@certctl/observability';
import { freePort, onPath } from '@certctl/testing';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { createResponderApp } from '../../apps/responder/src/app.factory';
import { ORCHESTRATOR_FEATURES } from '../../apps/orchestrator/src/orchestrator.features';
import { AcmeValidationService } from '../../apps/orchestrator/src/modules/acme-validation/acme-validation.service';
import { SCANNER_FEATURES } from '../../apps/scanner/src/scanner.features';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, post, unique } from '../support/fixtures';

/**
 * A real Prometheus (Debian package `prometheus`) scrapes the four apps the way the Prometheus Operator does from
 * our ServiceMonitors: target labels job, namespace, service, pod, endpoint set by relabelling, honor_labels off,
 * so a label of ours named like a target label would be renamed exported_<name>. It loads the PrometheusRule's
 * groups as its rules. Every selector of every alert must return series, and the alerts whose conditions the test
 * creates (expiring and expired certificates, a dead-lettered notification, a failed rollback seen by increase())
 * must become pending.
 */
const ROOT = resolve(__dirname, '../..');
const missing = ['prometheus', 'kubectl'].filter((c) => !onPath(c));
const why = missing.length ? `${missing.join(', ')} not on PATH (Debian: apt-get install -y prometheus kubernetes-client)` : undefined;
if (why && process.env.CI !== 'true') console.warn(`[prometheus-alerts.e2e-spec] skipped: ${why}`);
const suite = why && process.env.CI !== 'true' ? describe.skip : describe;

const WORKERS: Array<[WorkerName, Parameters<typeof createWorkerApp>[1]]> = [
  ['orchestrator', ORCHESTRATOR_FEATURES],
  ['notifier', [NotifierModule]],
  ['scanner', SCANNER_FEATURES],
];

interface PromResult { metric: Record<string, string>; value: [number, string] }

/** The vector selectors of a PromQL expression (metric name plus its matchers), functions and keywords left out. */
export function vectorSelectors(expr: string): string[] {
  const out: string[] = [];
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g;
  const stripped = expr.replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ');
  for (const m of stripped.matchAll(re)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    const before = stripped.slice(0, m.index);
    if (after.startsWith('(') && !m[2]) continue; // a function
    if (/^(and|or|unless|by|without|offset|bool)$/i.test(m[1]!)) continue;
    const insideString = (before.match(/"/g)?.length ?? 0) % 2 === 1;
    if (/[0-9.]$/.test(before) || insideString) continue; // part of a duration or number, or a label value
    out.push(`${m[1]}${m[2] ?? ''}`);
  }
  return [...new Set(out)];
}

suite('alerts against a real Prometheus with the Operator\'s target labels', () => {
  let api: ApiHarness;
  const workers = new Map<WorkerName, INestApplication>();
  let responder: INestApplication | undefined;
  let prometheus: ChildProcess | undefined;
  let promUrl = '';
  let dir = '';
  let rules: Array<{ alert: string; expr: string }> = [];
  let promLog = '';

  async function query(expr: string): Promise<PromResult[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; data?: { result: PromResult[] }; error?: string };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data!.result;
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms\n${promLog.slice(-3000)}`);
      await sleep(250);
    }
  }

  beforeAll(async () => {
    if (why) throw new Error(`CI=true and the Prometheus test cannot run: ${why}`);
    // ACME http-01 validations go to a port nothing listens on: every one the test starts fails for real.
    process.env.CERTCTL_ACME_SERVER_HTTP01_PORT = String(await freePort());
    api = await startApi({ CERTCTL_READ_CACHE_TTL: '1ms' });
    const apiPort = await freePort();
    await api.app.listen(apiPort, '127.0.0.1');
    const ports: Record<string, number> = { api: apiPort };
    for (const [name, features] of WORKERS) {
      const app = await createWorkerApp(name, features);
      const port = await freePort();
      await app.listen(port, '127.0.0.1');
      workers.set(name, app);
      ports[name] = port;
    }
    responder = await createResponderApp();
    ports.responder = await freePort();
    await responder.listen(ports.responder, '127.0.0.1');

    // The PrometheusRule as the overlays render it, its groups loaded as Prometheus rules.
    const rendered = (loadAll(execFileSync('kubectl', ['kustomize', resolve(ROOT, 'k8s/overlays/dev')], { encoding: 'utf8' })) as any[]).filter(Boolean);
    const rule = rendered.find((o) => o.kind === 'PrometheusRule');
    rules = rule.spec.groups.flatMap((g: any) => g.rules.filter((r: any) => r.alert));
    dir = mkdtempSync(join(tmpdir(), 'certctl-prometheus-'));
    // Short `for` so pending alerts show within the test; the expressions are untouched.
    const groups = rule.spec.groups.map((g: any) => ({ ...g, interval: '1s', rules: g.rules.map((r: any) => ({ ...r, for: '10m' })) }));
    writeFileSync(join(dir, 'rules.yml'), dump({ groups }));

    // What the Operator generates for a ServiceMonitor endpoint, reduced to its relabelling of target labels.
    const job = (app: string, port: string, path: string, extra: object = {}) => ({
      job_name: `certctl-${app}${path === '/metrics' ? '' : '-certctl'}`,
      metrics_path: path,
      honor_labels: false,
      static_configs: [{ targets: [`127.0.0.1:${ports[app]}`] }],
      relabel_configs: [
        { target_label: 'job', replacement: `certctl-${app}` },
        { target_label: 'namespace', replacement: 'certctl' },
        { target_label: 'service', replacement: `certctl-${app}` },
        { target_label: 'pod', replacement: `certctl-${app}-7d9f-abcde` },
        { target_label: 'endpoint', replacement: port },
      ],
      ...extra,
    });
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [join(dir, 'rules.yml')],
      scrape_configs: [
        job('api', 'http', '/metrics'),
        // The ServiceMonitor's relabeling on this endpoint: the same port as /metrics, so `endpoint` tells them apart.
        job('api', 'http-certctl', '/api/v1/metrics/prometheus', { authorization: { type: 'Bearer', credentials: api.adminKey } }),
        job('orchestrator', 'metrics', '/metrics'),
        job('notifier', 'metrics', '/metrics'),
        job('scanner', 'metrics', '/metrics'),
        job('responder', 'http', '/metrics'),
      ],
    };
    writeFileSync(join(dir, 'prometheus.yml'), dump(config));
    execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { stdio: 'pipe' });

    // Conditions for some alerts: certificates expiring within 7 days and expired, a dead-lettered notification,
    // and a File target in the inventory (its deploy series exist at zero before anything is deployed).
    const inventory = await createInventory(api);
    for (const [days, status] of [[3, 'Expiring'], [-2, 'Expired']] as const) {
      const cert = await post(api, '/api/v1/certificates', certificateBody(inventory));
      await api.db.query(`UPDATE managed_certificates SET expires_at = now() + make_interval(days => $2), status = $3 WHERE id = $1`, [cert.id, days, status]);
    }
    await post(api, '/api/v1/targets', { name: unique('t'), type: 'File', config: { cert_path: '/etc/ssl/nonexistent/c.pem' } });
    await api.app.get(JobProducer).queue(Queue.NotifyDeadLetter)
      .add('notification.dead', { notificationId: 'prometheus-test', lastError: 'smtp down' }, { jobId: 'prometheus-dead-1' });
    // An issuer with a budget of 10 an hour, 10 of it spent in the last minute: CertctlIssuerBudgetLow.
    const budgeted = await post(api, '/api/v1/issuers', { name: unique('budget'), type: 'GenericCA', config: { rate_limits: [{ name: 'orders', limit: 10, window_seconds: 3600, per: 'account' }] } });
    await api.db.query(`INSERT INTO issuer_budget_spends (issuer_id, limit_name, scope_key, member, spent_at) SELECT $1, 'orders', 'account', 'job-' || i, now() FROM generate_series(1, 10) i`, [budgeted.id]);

    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--storage.tsdb.retention.time=1h',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [prometheus.stdout!, prometheus.stderr!]) stream.on('data', (b: Buffer) => (promLog = (promLog + b.toString()).slice(-20_000)));
    await until('all six scrape targets up (five apps, two endpoints of the api)', async () => {
      const res = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ health: string; lastError: string; scrapeUrl: string }> } };
      const targets = res.data.activeTargets;
      promLog += `\n${JSON.stringify(targets.map((t) => [t.scrapeUrl, t.health, t.lastError]))}`;
      return targets.length === 6 && targets.every((t) => t.health === 'up') ? targets : undefined;
    });
  }, 120_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    if (prometheus && prometheus.exitCode === null) await new Promise((done) => prometheus!.once('exit', done));
    for (const app of workers.values()) await app.close();
    await responder?.close();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps our label as `app` next to the Operator\'s `service` (nothing renamed to exported_*)', async () => {
    const series = await query('process_resident_memory_bytes');
    expect(series.map((s) => [s.metric.app, s.metric.service]).sort()).toEqual([
      ['api', 'certctl-api'], ['notifier', 'certctl-notifier'], ['orchestrator', 'certctl-orchestrator'], ['responder', 'certctl-responder'],
      ['scanner', 'certctl-scanner'],
    ]);
    expect(await query('{exported_service!=""}')).toEqual([]);
    expect(await query('{exported_app!=""}')).toEqual([]);
  });

  it('every selector of every alert expression returns series', async () => {
    expect(rules.length).toBeGreaterThanOrEqual(10);
    await query('http_request_duration_seconds_bucket{app="api"}'); // traffic: the scrapes themselves are requests
    for (const { alert, expr } of rules) {
      const selectors = vectorSelectors(expr);
      expect(selectors.length, alert).toBeGreaterThan(0);
      for (const selector of selectors) {
        const result = await until(`${alert}: ${selector} returns series`, async () => {
          const r = await query(selector);
          return r.length ? r : undefined;
        }, 15_000);
        expect(result.length, `${alert}: ${selector}`).toBeGreaterThan(0);
      }
    }
  }, 120_000);

  it('the service-absent alert covers all five apps, the scanner and the OCSP responder included', () => {
    const absent = rules.find((r) => r.alert === 'CertctlServiceAbsent')!;
    for (const app of ['api', 'orchestrator', 'notifier', 'scanner', 'responder']) expect(absent.expr).toContain(`absent(up{job="certctl-${app}"})`);
  });

  it('the alerts whose conditions hold become pending; a first failed rollback is seen by increase()', async () => {
    // The zero-valued series of the File target have been scraped; now the orchestrator counts a failed rollback.
    await until('the zero rollback series is scraped', async () => {
      const r = await query('certctl_deploy_rollback_total{target_type="File",outcome="also_failed"} == 0');
      return r.length ? r : undefined;
    });
    await api.app.get(ClusterCounters).increment(DEPLOY_COUNTERS.rollbacks, { target_type: 'File', outcome: 'also_failed' });
    await api.app.get(ClusterCounters).increment(DEPLOY_COUNTERS.attempts, { target_type: 'File', result: 'failure' });
    // Three ACME http-01 challenges of 127.0.0.1, validated by the orchestrator's real validation service (attempt 1
    // of 1, so the refused connection is final): 3 of 3 failed, CertctlAcmeValidationFailureRatioHigh.
    await until('the zero ACME validation failure series is scraped', async () => {
      const r = await query('certctl_acme_challenge_validate_failures_total{job="certctl-api"} == 0');
      return r.length ? r : undefined;
    });
    const validation = workers.get('orchestrator')!.get(AcmeValidationService);
    for (const challengeId of await seedAcmeChallenges(3)) await validation.validate(challengeId, 1, 1);
    const { rows: statuses } = await api.db.query(`SELECT status, error->>'type' AS problem FROM acme_challenges`);
    expect(statuses).toEqual(Array(3).fill({ status: 'invalid', problem: 'urn:ietf:params:acme:error:connection' }));
    const wanted = ['CertctlAcmeValidationFailureRatioHigh', 'CertctlCertificatesExpiringWithin7Days', 'CertctlCertificatesExpiringSoon', 'CertctlCertificatesExpired',
      'CertctlNotificationDeadLettered', 'CertctlDeployRollbackAlsoFailed', 'CertctlDeployFailureRateHigh', 'CertctlIssuerBudgetLow'];
    const active = await until('the alerts to be pending or firing', async () => {
      const res = await fetch(`${promUrl}/api/v1/alerts`);
      const names = ((await res.json()) as { data: { alerts: Array<{ labels: { alertname: string } }> } }).data.alerts.map((a) => a.labels.alertname);
      return wanted.every((w) => names.includes(w)) ? names : undefined;
    }, 45_000);
    expect(active).toEqual(expect.arrayContaining(wanted));
    // Nothing is down or absent here.
    expect(active).not.toContain('CertctlServiceDown');
    expect(active).not.toContain('CertctlServiceAbsent');
  }, 90_000);

  /** An ACME account (on an ACME profile of a GenericCA issuer) with one order per challenge, each http-01 challenge processing. */
  async function seedAcmeChallenges(count: number): Promise<string[]> {
    const inventory = await createInventory(api);
    const profile = await post(api, '/api/v1/profiles', { name: unique('acme'), acme_auth_mode: 'challenge', acme_issuer_id: inventory.issuerId });
    const accountId = unique('acct');
    await api.db.query(`INSERT INTO acme_accounts (id, profile_id, jwk_thumbprint, jwk) VALUES ($1, $2, $3, '{}')`, [accountId, profile.id, unique('thumb')]);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const [orderId, authzId, challengeId] = [unique('order'), unique('authz'), unique('chall')];
      const identifier = { type: 'ip', value: '127.0.0.1' };
      await api.db.query(`INSERT INTO acme_orders (id, account_id, profile_id, identifiers, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 day')`,
        [orderId, accountId, profile.id, JSON.stringify([identifier])]);
      await api.db.query(`INSERT INTO acme_authorizations (id, order_id, account_id, identifier, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 day')`,
        [authzId, orderId, accountId, identifier]);
      await api.db.query(`INSERT INTO acme_challenges (id, authorization_id, type, status, token) VALUES ($1, $2, 'http-01', 'processing', $3)`, [challengeId, authzId, unique('token')]);
      ids.push(challengeId);
    }
    return ids;
  }

  it('extracts selectors from PromQL', () => {
    expect(vectorSelectors('sum by (target_type) (increase(x_total{a="b"}[15m])) / ignoring(le) y > 0.25 and absent(up{job="k"})'))
      .toEqual(['x_total{a="b"}', 'y', 'up{job="k"}']);
  });
});
