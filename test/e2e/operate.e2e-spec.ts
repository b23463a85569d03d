import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { CORE_SCHEMA, load, loadAll, mergeTag } from 'js-yaml';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_OPS } from '@certctl/acme-server';
import { ALL_QUEUES, Queue } from '@certctl/contracts';
import { JobProducer } from '@certctl/db';
import { createWorkerApp, QUEUE_STATES, WorkerName } from '@certctl/observability';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { ORCHESTRATOR_FEATURES } from '../../apps/orchestrator/src/orchestrator.features';
import { SCANNER_FEATURES } from '../../apps/scanner/src/scanner.features';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, post } from '../support/fixtures';

// ---------------------------------------------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4, parsed (HELP, TYPE, samples with escaped label values).

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Family { name: string; type?: string; help?: string; samples: Sample[] }

function unescape(s: string): string {
  return s.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(body: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (!m) throw new Error(`bad label set in: ${line}`);
    labels[m[1]!] = unescape(m[2]!);
    at = re.lastIndex;
  }
  return labels;
}

/** Families by name; samples of histograms and summaries (`_bucket`, `_sum`, `_count`) join their family. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped'], line).toContain(meta[3]);
        f.type = meta[3];
      } else f.help = unescape(meta[3]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const [, name, labelBody, raw] = m;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    // prom-client writes "Nan" for an event-loop histogram scraped twice within its sampling interval; Prometheus
    // parses floats case-insensitively (Go's ParseFloat), so any spelling of NaN is valid.
    if (Number.isNaN(value) && !/^nan$/i.test(raw!)) throw new Error(`bad value in: ${line}`);
    const base = families.has(name!) ? name! : name!.replace(/_(bucket|sum|count|created)$/, '');
    family(families.has(base) ? base : name!).samples.push({ name: name!, labels: labelBody ? parseLabels(labelBody, line) : {}, value });
  }
  return families;
}

/** Whether a Kubernetes label selector (matchLabels and In/NotIn/Exists/DoesNotExist expressions) selects these labels. */
function selects(selector: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> } | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) =>
    operator === 'In' ? values.includes(labels[key]!) : operator === 'NotIn' ? !values.includes(labels[key]!)
      : operator === 'Exists' ? key in labels : !(key in labels));
  return byLabels && byExpressions;
}

function sample(f: Map<string, Family>, name: string, labels: Record<string, string>): number | undefined {
  return (f.get(name) ?? f.get(name.replace(/_(bucket|sum|count)$/, '')))?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

// ---------------------------------------------------------------------------------------------------------------
// PromQL: the metric names an expression selects (string literals, label matchers, grouping clauses and function
// names are not metric names).

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan']);

function promqlMetrics(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    const before = stripped[m.index - 1];
    if (after.startsWith('(') || PROMQL_WORDS.has(m[0].toLowerCase()) || (before !== undefined && /[0-9.]/.test(before))) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** A referenced series name belongs to an exported family (histogram series carry a suffix). */
function exported(families: Set<string>, name: string): boolean {
  return families.has(name) || families.has(name.replace(/_(bucket|sum|count)$/, ''));
}

/** Series Prometheus itself makes for every target (not exported by certctl). */
const PROMETHEUS_SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

// ---------------------------------------------------------------------------------------------------------------

const ROOT = resolve(__dirname, '../..');
const WORKERS: Array<[WorkerName, Parameters<typeof createWorkerApp>[1]]> = [
  ['orchestrator', ORCHESTRATOR_FEATURES],
  ['notifier', [NotifierModule]],
  ['scanner', SCANNER_FEATURES],
];

describe('operate: every app exports its metrics; the Kubernetes manifests and the dashboard reference only those', () => {
  let api: ApiHarness;
  const workers = new Map<WorkerName, INestApplication>();
  /** Every family name exported by the api (both endpoints) and the three workers, from a live scrape. */
  const exportedFamilies = new Set<string>();

  async function scrape(app: INestApplication, path = '/metrics', auth?: { Authorization: string }): Promise<Map<string, Family>> {
    const req = request(app.getHttpServer()).get(path);
    if (auth) req.set(auth);
    const res = await req.expect(200);
    expect(res.headers['content-type']).toContain('text/plain; version=0.0.4');
    return parsePrometheus(res.text);
  }

  beforeAll(async () => {
    // A 1 ms read cache: the value test below scrapes right after changing the inventory.
    api = await startApi({ CERTCTL_READ_CACHE_TTL: '1ms' });
    for (const [name, features] of WORKERS) {
      const app = await createWorkerApp(name, features);
      await app.init();
      workers.set(name, app);
    }
  });
  afterAll(async () => {
    for (const app of workers.values()) await app.close();
    await api?.close();
  });

  it('certctl_queue_jobs{queue,state} and the job families are on every app, and count real jobs', async () => {
    const producer = api.app.get(JobProducer);
    // A dead-lettered notification, as the notifier leaves one (the dead-letter queue has no consumer).
    await producer.queue(Queue.NotifyDeadLetter).add('notification.dead', { notificationId: 'operate-test', lastError: 'smtp down' }, { jobId: 'operate-dead-1' });
    // A real job through the orchestrator's BaseProcessor.
    await producer.queue(Queue.Schedule).add('jobs.timeout', {}, { jobId: 'operate-timeout-1' });

    const orchestrator = workers.get('orchestrator')!;
    const deadline = Date.now() + 20_000;
    let orch = await scrape(orchestrator);
    while ((sample(orch, 'certctl_jobs_total', { queue: 'schedule', name: 'jobs.timeout', outcome: 'completed' }) ?? 0) < 1) {
      if (Date.now() > deadline) expect.fail('the orchestrator did not complete jobs.timeout within 20 s');
      await new Promise((r) => setTimeout(r, 100));
      orch = await scrape(orchestrator);
    }
    expect(orch.get('certctl_jobs_total')!.type).toBe('counter');
    expect(orch.get('certctl_job_duration_seconds')!.type).toBe('histogram');
    expect(sample(orch, 'certctl_job_duration_seconds_count', { queue: 'schedule', name: 'jobs.timeout', app: 'orchestrator' })).toBeGreaterThanOrEqual(1);
    const inf = sample(orch, 'certctl_job_duration_seconds_bucket', { queue: 'schedule', name: 'jobs.timeout', le: '+Inf' });
    expect(inf).toBe(sample(orch, 'certctl_job_duration_seconds_count', { queue: 'schedule', name: 'jobs.timeout' }));

    const apps: Array<[string, INestApplication]> = [['api', api.app], ...workers.entries()];
    for (const [service, app] of apps) {
      const f = await scrape(app);
      const queueJobs = f.get('certctl_queue_jobs');
      expect(queueJobs?.type, service).toBe('gauge');
      expect(queueJobs?.help).toBeTruthy();
      for (const queue of ALL_QUEUES) {
        for (const state of QUEUE_STATES.filter((s) => s !== 'dead-letter')) {
          expect(sample(f, 'certctl_queue_jobs', { queue, state, app: service }), `${service} ${queue} ${state}`).toBeGreaterThanOrEqual(0);
        }
      }
      expect(sample(f, 'certctl_queue_jobs', { queue: 'notify', state: 'dead-letter', app: service }), service).toBe(1);
      expect(sample(f, 'certctl_queue_jobs', { queue: 'notify-dead-letter', state: 'waiting', app: service }), service).toBe(1);
      for (const name of ['certctl_jobs_total', 'certctl_job_duration_seconds', 'http_request_duration_seconds', 'process_resident_memory_bytes']) {
        expect(f.has(name), `${service} exports ${name}`).toBe(true);
      }
      for (const name of f.keys()) exportedFamilies.add(name);
    }

    // The scan-probe series exist at zero before any scan, so the dashboard's panel is not empty on a fresh install.
    const scanner = await scrape(workers.get('scanner')!);
    for (const outcome of ['certificate', 'refused', 'timeout', 'tls']) {
      expect(sample(scanner, 'certctl_scan_probes_total', { outcome }), `certctl_scan_probes_total{outcome="${outcome}"}`).toBe(0);
    }

    const certctl = await scrape(api.app, '/api/v1/metrics/prometheus', api.auth());
    for (const name of ['certctl_certificate_total', 'certctl_certificate_expiring_soon', 'certctl_notification_dead_total', 'certctl_deploy_rollback_total']) {
      expect(certctl.get(name)?.type, name).toMatch(/gauge|counter/);
    }
    for (const name of certctl.keys()) exportedFamilies.add(name);
  });

  it('the certificate gauges count the inventory by expiry window: 7 days, 30 days, expired, revoked', async () => {
    const gauges = async () => {
      const f = await scrape(api.app, '/api/v1/metrics/prometheus', api.auth());
      const names = ['total', 'expiring_7d', 'expiring_soon', 'expired', 'revoked', 'active'];
      for (const n of names) expect(f.get(`certctl_certificate_${n}`)?.type, n).toBe('gauge');
      return Object.fromEntries(names.map((n) => [n, sample(f, `certctl_certificate_${n}`, {}) ?? NaN]));
    };
    const before = await gauges();
    const inventory = await createInventory(api);
    // Expiry relative to now, in days, and the status each certificate ends up in (time passing, in SQL).
    const aged: Array<[number, string]> = [[3, 'Expiring'], [20, 'Expiring'], [-1, 'Expired'], [90, 'Active'], [2, 'Revoked']];
    for (const [days, status] of aged) {
      const cert = await post(api, '/api/v1/certificates', certificateBody(inventory));
      await api.db.query(`UPDATE managed_certificates SET expires_at = now() + make_interval(days => $2), status = $3 WHERE id = $1`, [cert.id, days, status]);
    }
    const after = await gauges();
    const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!]));
    expect(delta).toEqual({ total: 5, expiring_7d: 1, expiring_soon: 2, expired: 1, revoked: 1, active: 1 });
  });

  const kubectl = (() => {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
      return undefined;
    } catch {
      return 'kubectl not found (Debian package kubernetes-client; .ci/run installs it)';
    }
  })();
  if (kubectl && process.env.CI !== 'true') console.warn(`[operate.e2e-spec] Kubernetes part skipped: ${kubectl}`);
  const withKubectl = kubectl && process.env.CI !== 'true' ? it.skip : it;

  withKubectl('kubectl kustomize renders both overlays; Deployments, ServiceMonitors, alerts and dashboard check out', () => {
    expect(exportedFamilies.size, 'the scrape test ran first').toBeGreaterThan(20);
    const render = (overlay: string) =>
      (loadAll(execFileSync('kubectl', ['kustomize', resolve(ROOT, 'k8s/overlays', overlay)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as any[]).filter(Boolean);
    const dev = render('dev');
    const prod = render('prod');
    for (const o of [...dev, ...prod]) expect(o.kind && o.metadata?.name, JSON.stringify(o)).toBeTruthy();
    expect(dev.some((o) => o.kind === 'StatefulSet' && o.metadata.name === 'postgres')).toBe(true);
    // prod: external PostgreSQL and Redis, no template Secrets applied over the real ones
    expect(prod.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Secret')).toEqual([]);

    for (const objects of [dev, prod]) {
      const of = (kind: string) => objects.filter((o) => o.kind === kind);
      const deployments = of('Deployment');
      expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['certctl-api', 'certctl-notifier', 'certctl-orchestrator', 'certctl-responder', 'certctl-scanner']);
      const podSpecs = [...deployments, ...of('Job')].map((o) => [o.metadata.name as string, o.spec.template.spec] as const);
      for (const [name, pod] of podSpecs) {
        expect(pod.securityContext?.runAsNonRoot, name).toBe(true);
        for (const c of pod.containers) {
          expect(c.securityContext, name).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
          expect(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, name).toBeTruthy();
          if (pod.restartPolicy !== 'OnFailure') {
            expect(c.livenessProbe?.httpGet?.path, name).toBe('/health');
            expect(c.readinessProbe?.httpGet?.path, name).toBe('/ready');
            // The app gives up on its shutdown (and says so) before the kubelet's silent SIGKILL.
            const shutdown = (c.env ?? []).find((e: { name: string }) => e.name === 'CERTCTL_SHUTDOWN_TIMEOUT')?.value as string | undefined;
            expect(shutdown, name).toMatch(/^\d+s$/);
            expect(parseInt(shutdown!, 10), name).toBeLessThan(pod.terminationGracePeriodSeconds);
          }
        }
      }
      expect(of('Job').map((j) => j.spec.template.spec.containers[0].args)).toEqual([['migrate']]);
      // Re-appliable on upgrades: the finished Job removes itself, so a new image tag never hits its immutable template.
      expect(of('Job').map((j) => j.spec.ttlSecondsAfterFinished)).toEqual([0]);

      // Only the orchestrator gets an API token, for KubernetesSecret targets, through its namespaced Role.
      for (const [name, pod] of podSpecs) {
        const orchestrator = name === 'certctl-orchestrator';
        expect(pod.automountServiceAccountToken, name).toBe(orchestrator);
        expect(pod.serviceAccountName, name).toBe(orchestrator ? 'certctl-orchestrator' : 'certctl');
      }
      const namespace = deployments[0].metadata.namespace;
      expect(namespace).toBeTruthy();
      expect(of('ClusterRole')).toEqual([]);
      expect(of('ClusterRoleBinding')).toEqual([]);
      const [role] = of('Role');
      expect(role.metadata.namespace).toBe(namespace);
      expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update', 'patch'] }]);
      const [binding] = of('RoleBinding');
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'certctl-orchestrator', namespace }]);
      expect(of('ServiceAccount').map((a) => [a.metadata.name, a.automountServiceAccountToken]).sort())
        .toEqual([['certctl', false], ['certctl-orchestrator', false]]);
      expect(of('HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name).sort()).toEqual(['certctl-notifier', 'certctl-orchestrator', 'certctl-responder', 'certctl-scanner']);
      // A Deployment an HPA owns has no replicas: each apply would reset the autoscaled count.
      for (const hpa of of('HorizontalPodAutoscaler')) {
        const owned = deployments.find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
        expect(owned.spec.replicas, hpa.spec.scaleTargetRef.name).toBeUndefined();
      }
      expect(of('PodDisruptionBudget')).toHaveLength(5);
      expect(of('NetworkPolicy').some((p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && !p.spec.ingress)).toBe(true);

      // Every ServiceMonitor selects a Service in the same namespace that exposes its endpoints' named ports.
      const services = of('Service');
      const monitors = of('ServiceMonitor');
      expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['certctl-api', 'certctl-notifier', 'certctl-orchestrator', 'certctl-responder', 'certctl-scanner']);
      for (const m of monitors) {
        const selected = services.filter((s) => s.metadata.namespace === m.metadata.namespace
          && Object.entries(m.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => s.metadata.labels?.[k] === v));
        expect(selected.map((s) => s.metadata.name), m.metadata.name).toEqual([m.metadata.name]);
        for (const e of m.spec.endpoints) {
          const port = selected[0].spec.ports.find((p: any) => p.name === e.port);
          expect(port, `${m.metadata.name} port ${e.port}`).toBeDefined();
          // ...and the Deployment behind the Service has a container port of that name.
          const deployment = deployments.find((d) => Object.entries(selected[0].spec.selector as Record<string, string>).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
          expect(deployment.spec.template.spec.containers[0].ports.map((p: any) => p.name)).toContain(port.targetPort);
        }
      }

      // Every app: its ServiceMonitor is selected by the Prometheus that selects the alert rules (same labels), and the
      // NetworkPolicies let its pods reach what its /ready needs (PostgreSQL and Redis: egress from it, ingress to them).
      const ruleLabels = of('PrometheusRule')[0].metadata.labels ?? {};
      const apps = deployments.map((d) => d.spec.template.metadata.labels as Record<string, string>);
      expect(apps.map((l) => l['app.kubernetes.io/component']).sort()).toEqual(['api', 'notifier', 'orchestrator', 'responder', 'scanner']);
      for (const m of monitors) expect(m.metadata.labels ?? {}, `${m.metadata.name} is selected like the alert rules`).toMatchObject(ruleLabels);
      const policies = of('NetworkPolicy');
      const egressTo = (pod: Record<string, string>, port: number) => policies.some((p) => selects(p.spec.podSelector, pod) && p.spec.policyTypes.includes('Egress')
        && (p.spec.egress ?? []).some((rule: any) => (rule.ports ?? []).some((x: any) => x.port === port)));
      const dependencies = objects.filter((o) => o.kind === 'StatefulSet').map((o) => ({ name: o.metadata.name as string, labels: o.spec.template.metadata.labels as Record<string, string>, port: o.metadata.name === 'postgres' ? 5432 : 6379 }));
      for (const pod of apps) {
        const app = pod['app.kubernetes.io/component'];
        for (const port of [5432, 6379]) expect(egressTo(pod, port), `${app} may connect out to ${port}`).toBe(true);
        for (const dependency of dependencies) {
          const guarding = policies.filter((p) => selects(p.spec.podSelector, dependency.labels) && p.spec.policyTypes.includes('Ingress'));
          const admitted = guarding.length === 0 || guarding.some((p) => (p.spec.ingress ?? []).some((rule: any) => (rule.from ?? []).some((peer: any) => peer.podSelector && selects(peer.podSelector, pod))));
          expect(admitted, `${app} is admitted by ${dependency.name}'s NetworkPolicies`).toBe(true);
        }
      }
      // Every app's HPA in the dev overlay stays within the other workers' 1-4.
      if (objects === dev) for (const hpa of of('HorizontalPodAutoscaler')) expect([hpa.spec.minReplicas, hpa.spec.maxReplicas], hpa.metadata.name).toEqual([1, 4]);
      // Issued leaves say where revocation lives: the responder's Service in the namespace being deployed.
      const config = of('ConfigMap').find((c) => c.metadata.name === 'certctl-config').data;
      expect(config.CERTCTL_PKI_BASE_URL).toBe(`http://certctl-responder.${namespace}.svc:8084`);

      // Every alert expression and every dashboard query selects only metrics the platform exports.
      const rules = of('PrometheusRule').flatMap((r) => r.spec.groups.flatMap((g: any) => g.rules));
      const alerts = rules.map((r: any) => r.alert as string);
      for (const wanted of ['CertctlCertificatesExpiringSoon', 'CertctlNotificationDeadLettered', 'CertctlDeployRollbackAlsoFailed', 'CertctlQueueBacklogGrowing', 'CertctlServiceDown', 'CertctlOcspSigningFailed', 'CertctlOcspRateLimitedBurst']) {
        expect(alerts).toContain(wanted);
      }
      const dashboard = JSON.parse(of('ConfigMap').find((c) => c.metadata.name === 'certctl-grafana-dashboard').data['certctl.json']);
      const queries: Array<[string, string]> = [
        ...rules.map((r: any) => [`alert ${r.alert}`, String(r.expr)] as [string, string]),
        ...dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => [`panel ${p.title}`, t.expr] as [string, string])),
      ];
      expect(queries.length).toBeGreaterThan(20);
      const referenced = new Set<string>();
      for (const [where, expr] of queries) {
        const names = promqlMetrics(expr);
        expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
        for (const name of names) {
          referenced.add(name);
          if (!PROMETHEUS_SYNTHETIC.has(name)) expect(exported(exportedFamilies, name), `${where} references ${name}, which no app exports`).toBe(true);
        }
      }
      // The memory panel shows every app that runs as a Deployment, and health checks have a panel.
      const memory = dashboard.panels.flatMap((p: any) => p.targets).find((t: any) => t.expr.includes('process_resident_memory_bytes')).expr as string;
      const appPattern = new RegExp(`^(${/app=~"([^"]+)"/.exec(memory)![1]})$`);
      for (const d of deployments) expect(d.metadata.name.replace(/^certctl-/, ''), `memory panel: ${memory}`).toMatch(appPattern);
      expect(dashboard.panels.map((p: any) => p.title)).toContain('Endpoint health checks');
      // The ACME server has its row: requests and failures of every operation, and the validation failure ratio an alert watches.
      expect(dashboard.panels.filter((p: any) => p.type === 'row').map((p: any) => p.title)).toContain('ACME server');
      for (const op of ACME_OPS) for (const name of [`certctl_acme_${op}_total`, `certctl_acme_${op}_failures_total`]) expect(referenced, name).toContain(name);
      expect(alerts).toContain('CertctlAcmeValidationFailureRatioHigh');
      // The orchestrator's challenge validations reach the fleet on 80/443 and DNS by a policy of their own, and
      // the responder (CRL, OCSP, ACME) admits every client on 8084.
      const orchestratorPod = apps.find((l) => l['app.kubernetes.io/component'] === 'orchestrator')!;
      const validation = policies.find((p) => p.metadata.name === 'certctl-acme-validation-egress');
      expect(selects(validation.spec.podSelector, orchestratorPod)).toBe(true);
      expect(validation.spec.egress.flatMap((r: any) => r.ports.map((x: any) => `${x.protocol}/${x.port}`)).sort()).toEqual(['TCP/443', 'TCP/53', 'TCP/80', 'UDP/53']);
      const responderPod = apps.find((l) => l['app.kubernetes.io/component'] === 'responder')!;
      expect(policies.some((p) => selects(p.spec.podSelector, responderPod) && p.spec.policyTypes.includes('Ingress')
        && (p.spec.ingress ?? []).some((rule: any) => !rule.from && (rule.ports ?? []).some((x: any) => x.port === 8084)))).toBe(true);
      for (const name of ['certctl_ocsp_counter_total', 'certctl_crl_counter_total', 'certctl_queue_jobs', 'certctl_deploy_rollback_total', 'certctl_jobs_total', 'certctl_job_duration_seconds_bucket', 'certctl_certificate_expiring_soon', 'certctl_deploy_attempts_total', 'certctl_health_check_status', 'certctl_health_check_probes_total']) {
        expect(referenced).toContain(name);
      }
    }
  });

  it('the PromQL name extraction skips functions, labels, grouping and durations', () => {
    expect(promqlMetrics('sum by (queue, le) (rate(x_bucket{a="b",c=~"d|e"}[5m])) / ignoring(le) y offset 5m > 0.5 and on(q) absent(up{job="k"})').sort())
      .toEqual(['up', 'x_bucket', 'y']);
  });
});

describe('docker-compose.yml (static check: no container engine runs here)', () => {
  it('names postgres, redis, migrate, api, orchestrator, notifier, scanner and responder, with healthchecks and depends_on conditions', () => {
    // Compose files use YAML merge keys (`<<: *certctl`).
    const compose = load(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'), { schema: CORE_SCHEMA.withTags(mergeTag) }) as any;
    const services = compose.services as Record<string, any>;
    expect(Object.keys(services).sort()).toEqual(['api', 'migrate', 'notifier', 'orchestrator', 'postgres', 'redis', 'responder', 'scanner']);
    for (const name of ['postgres', 'redis', 'api', 'orchestrator', 'notifier', 'scanner', 'responder']) {
      expect(services[name].healthcheck?.test, name).toBeDefined();
    }
    expect(services.redis.command.join(' ')).toContain('--appendonly yes');
    expect(services.migrate.command).toEqual(['migrate']);
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['api', 'orchestrator', 'notifier', 'scanner', 'responder']) {
      expect(services[name].command, name).toEqual([name]);
      // Issued leaves point at the responder this file starts.
      expect(services[name].environment.CERTCTL_PKI_BASE_URL, name).toMatch(/:8084}?$/);
      expect(services[name].depends_on, name).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
      expect(services[name].read_only, name).toBe(true);
    }
    expect(Object.keys(compose.volumes).sort()).toEqual(['postgres-data', 'redis-data']);
    const example = readFileSync(resolve(ROOT, '.env.example'), 'utf8');
    for (const key of ['CERTCTL_API_KEY', 'CERTCTL_CONFIG_ENCRYPTION_KEY', 'POSTGRES_PASSWORD']) expect(example).toMatch(new RegExp(`^#?\\s*${key}=`, 'm'));
  });
});
