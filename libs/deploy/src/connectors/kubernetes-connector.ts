import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiException, CoreV1Api, V1Secret } from '@kubernetes/client-node';
import {
  messageOf, PlanInvalidError, PostVerifyFailedError, RollbackFailedError, TargetConfigError, TransportError,
} from '../errors';
import { lockAll } from '../locks';
import { keyMismatch, leafFingerprint, VerificationMismatch, verifyServedCertificate } from '../verify';
import { ValidateFailedError } from '../errors';
import { Config, optionalObject, optionalPath, optionalString, PostVerifyConfig, postVerify, requiredString } from './config-fields';
import type { ConnectorContext, DeployMaterial, DeployOutcome, TargetConnector } from './types';

interface KubeTarget {
  namespace: string;
  secretName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  kubeconfigPath?: string;
  context?: string;
  verify?: PostVerifyConfig;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const CONFLICT_RETRIES = 5;

function stringMap(c: Config, field: string, valuePattern?: RegExp): Record<string, string> {
  const map = optionalObject(c, field) ?? {};
  for (const [k, v] of Object.entries(map)) {
    if (!LABEL_KEY.test(k)) throw new TargetConfigError(`${field}.${k}`, 'is not a valid key');
    if (typeof v !== 'string' || (valuePattern && !valuePattern.test(v))) throw new TargetConfigError(`${field}.${k}`, 'must be a valid string value');
  }
  return map as Record<string, string>;
}

function describe(c: Config): KubeTarget {
  const namespace = requiredString(c, 'namespace');
  if (!DNS_LABEL.test(namespace)) throw new TargetConfigError('namespace', 'must be a DNS label');
  const secretName = requiredString(c, 'secret_name');
  if (!DNS_SUBDOMAIN.test(secretName)) throw new TargetConfigError('secret_name', 'must be a DNS subdomain name');
  return {
    namespace, secretName, labels: stringMap(c, 'labels', LABEL_VALUE), annotations: stringMap(c, 'annotations'),
    kubeconfigPath: optionalPath(c, 'kubeconfig_path'), context: optionalString(c, 'context'), verify: postVerify(c),
  };
}

/**
 * @kubernetes/client-node (about 60 MiB of RSS once loaded: its generated API sources) is loaded by the first
 * Kubernetes deploy, not with the connector registry that every app validating target configs links.
 */
let kubeLibrary: typeof import('@kubernetes/client-node') | undefined;
const kube = () => (kubeLibrary ??= require('@kubernetes/client-node') as typeof import('@kubernetes/client-node'));
/** An error can only be the library's ApiException once the library is loaded. */
const isApiException = (err: unknown): err is ApiException<unknown> => kubeLibrary !== undefined && err instanceof kubeLibrary.ApiException;

const b64 = (s: string) => Buffer.from(s).toString('base64');
const statusOf = (err: unknown) => (isApiException(err) ? err.code : undefined);

/**
 * A `kubernetes.io/tls` Secret through the real @kubernetes/client-node client (upstream's is a stub): create or
 * replace with `tls.crt` = leaf + chain and `tls.key`, our labels and annotations, retried on resourceVersion
 * conflicts; the previous data is put back if the post-deploy verification fails. Auth from `kubeconfig_path`
 * (and `context`) or, without one, the pod's service account (in-cluster).
 */
export class KubernetesSecretConnector implements TargetConnector {
  readonly type = 'KubernetesSecrets';

  validateConfig(config: Config): void {
    describe(config);
  }

  async validateOnly(config: Config): Promise<string> {
    const t = describe(config);
    const existing = await this.read(client(t), t);
    return existing ? `secret ${t.namespace}/${t.secretName} exists (resourceVersion ${existing.metadata?.resourceVersion})` : `secret ${t.namespace}/${t.secretName} does not exist yet; it will be created`;
  }

  async deploy(config: Config, m: DeployMaterial, ctx: ConnectorContext): Promise<DeployOutcome> {
    const t = describe(config);
    const started = performance.now();
    if (!m.keyPem) throw new PlanInvalidError('no private key is available here for this certificate (it was generated on an agent)');
    const problem = keyMismatch(m.certPem, m.keyPem);
    if (problem) throw new ValidateFailedError(problem);
    const nl = (s: string) => (s && !s.endsWith('\n') ? `${s}\n` : s);
    const data = { 'tls.crt': b64(nl(m.certPem) + nl(m.chainPem)), 'tls.key': b64(nl(m.keyPem)) };
    const api = client(t);
    const names = [`k8s:${t.namespace}/${t.secretName}`];
    const releaseLocal = await lockAll(names);
    const releaseRemote = ctx.crossProcessLock ? await ctx.crossProcessLock(names) : undefined;
    try {
      const base = { skippedAsIdempotent: false, backupPaths: [] as string[], validateOk: true, reloaded: false };
      let previous: V1Secret | null = null;
      for (let attempt = 1; ; attempt++) {
        previous = await this.read(api, t);
        const same = previous?.type === 'kubernetes.io/tls' && previous.data?.['tls.crt'] === data['tls.crt'] && previous.data?.['tls.key'] === data['tls.key'];
        if (same && !ctx.force) {
          return { ...base, skippedAsIdempotent: true, durationMs: performance.now() - started, verification: { status: 'skipped', fingerprint: null, verifiedAt: null, note: 'content unchanged' } };
        }
        const body = this.secret(t, data, m, previous);
        await ctx.fence?.(); // still the deploy lock's holder? (a lost lease writes nothing)
        try {
          if (previous) await api.replaceNamespacedSecret({ name: t.secretName, namespace: t.namespace, body });
          else await api.createNamespacedSecret({ namespace: t.namespace, body });
          break;
        } catch (err) {
          // Someone else changed (or created) it between our read and write: read again and retry.
          if (statusOf(err) === 409 && attempt < CONFLICT_RETRIES) continue;
          throw new TransportError(`writing secret ${t.namespace}/${t.secretName}: ${describeError(err)}`);
        }
      }
      let verification: DeployOutcome['verification'] = { status: 'skipped', fingerprint: null, verifiedAt: null, note: 'no post_deploy_verify endpoint configured' };
      if (t.verify) {
        try {
          const fingerprint = await verifyServedCertificate({ ...t.verify, expectedFingerprint: leafFingerprint(m.certPem) });
          verification = { status: 'success', fingerprint, verifiedAt: new Date() };
        } catch (err) {
          await this.restore(api, t, previous).catch((restoreErr: unknown) => {
            throw new RollbackFailedError('post_verify', messageOf(err), describeError(restoreErr), []);
          });
          throw new PostVerifyFailedError(messageOf(err), [], (err as VerificationMismatch).servedFingerprint ?? null);
        }
      }
      return { ...base, durationMs: performance.now() - started, verification };
    } finally {
      try {
        await releaseRemote?.();
      } finally {
        releaseLocal();
      }
    }
  }

  private secret(t: KubeTarget, data: Record<string, string>, m: DeployMaterial, previous: V1Secret | null): V1Secret {
    return {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
      metadata: {
        name: t.secretName, namespace: t.namespace,
        resourceVersion: previous?.metadata?.resourceVersion,
        labels: { ...previous?.metadata?.labels, ...t.labels, 'app.kubernetes.io/managed-by': 'certctl' },
        annotations: {
          ...previous?.metadata?.annotations, ...t.annotations,
          'certctl.io/deployed-at': new Date().toISOString(),
          ...(m.certificateId ? { 'certctl.io/certificate-id': m.certificateId } : {}),
        },
      },
      data,
    };
  }

  private async read(api: CoreV1Api, t: KubeTarget): Promise<V1Secret | null> {
    try {
      return await api.readNamespacedSecret({ name: t.secretName, namespace: t.namespace });
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw new TransportError(`reading secret ${t.namespace}/${t.secretName}: ${describeError(err)}`);
    }
  }

  /** Puts the previous data back (or deletes a secret we created), retrying on conflicts. */
  private async restore(api: CoreV1Api, t: KubeTarget, previous: V1Secret | null): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!previous) {
          await api.deleteNamespacedSecret({ name: t.secretName, namespace: t.namespace });
          return;
        }
        const current = await this.read(api, t);
        const body: V1Secret = { ...previous, metadata: { ...previous.metadata, resourceVersion: current?.metadata?.resourceVersion } };
        if (current) await api.replaceNamespacedSecret({ name: t.secretName, namespace: t.namespace, body });
        else await api.createNamespacedSecret({ namespace: t.namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: undefined } } });
        return;
      } catch (err) {
        if (statusOf(err) === 409 && attempt < CONFLICT_RETRIES) continue;
        throw err;
      }
    }
  }
}

/** Where a pod's service account is mounted; client-node's in-cluster config reads its token from here. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const NO_CLUSTER_CREDENTIALS =
  `no Kubernetes credentials: the target names no kubeconfig_path and this process does not run in a cluster (no service account ` +
  `at ${SERVICE_ACCOUNT_DIR}). Set config.kubeconfig_path to a kubeconfig file that the deploying process (the orchestrator, or the ` +
  `agent for an agent's target) can read, or run that process in the cluster with a service account allowed to write Secrets`;

function client(t: KubeTarget): CoreV1Api {
  const { CoreV1Api, KubeConfig } = kube();
  const kc = new KubeConfig();
  try {
    if (t.kubeconfigPath) kc.loadFromFile(t.kubeconfigPath);
    else kc.loadFromCluster();
    if (t.context) kc.setCurrentContext(t.context);
  } catch (err) {
    throw new TransportError(`kubernetes credentials: ${messageOf(err)}`);
  }
  // Outside a cluster loadFromCluster still "succeeds", with https://undefined:undefined as the server: the first
  // request would then fail with a bare "Invalid URL". Say what is missing instead.
  if (!t.kubeconfigPath && (!existsSync(join(SERVICE_ACCOUNT_DIR, 'token')) || !URL.canParse(kc.getCurrentCluster()?.server ?? '') || /undefined/.test(kc.getCurrentCluster()?.server ?? ''))) {
    throw new TransportError(NO_CLUSTER_CREDENTIALS);
  }
  return kc.makeApiClient(CoreV1Api);
}

function describeError(err: unknown): string {
  if (isApiException(err)) {
    const body = err.body as { message?: string } | string | undefined;
    const message = typeof body === 'string' ? (safeJson(body)?.message ?? body) : body?.message;
    return `HTTP ${err.code}${message ? `: ${String(message).slice(0, 500)}` : ''}`;
  }
  return messageOf(err);
}

function safeJson(s: string): { message?: string } | undefined {
  try {
    return JSON.parse(s) as { message?: string };
  } catch {
    return undefined;
  }
}
