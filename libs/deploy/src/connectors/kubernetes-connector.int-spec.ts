import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostVerifyFailedError, TransportError } from '../errors';
import { FakeKubeApiServer } from '../testing/fake-kube-apiserver';
import { TestCa } from '../testing/material';
import { KubernetesSecretConnector } from './kubernetes-connector';

const decode = (s: unknown) => Buffer.from(String(s), 'base64').toString('utf8');

// No Kubernetes API server can run on this machine: the real @kubernetes/client-node client talks to a fake one.
describe('Kubernetes Secret connector against a fake API server (resourceVersion semantics)', () => {
  const api = new FakeKubeApiServer();
  const k8s = new KubernetesSecretConnector();
  let ca: TestCa;
  let kubeconfig: string;
  const serve = async (server: FakeKubeApiServer) => {
    const pair = await ca.issue(['127.0.0.1']);
    await server.start({ certPem: pair.certPem, keyPem: pair.keyPem!, caPem: ca.pem });
  };
  beforeAll(async () => {
    ca = await TestCa.create();
    await serve(api);
    kubeconfig = api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kube-')));
  });
  afterAll(() => api.stop());

  const config = (overrides: Record<string, unknown> = {}) => ({
    namespace: 'payments', secret_name: 'api-tls', kubeconfig_path: kubeconfig, labels: { team: 'payments' }, annotations: { 'example.com/owner': 'alice' }, ...overrides,
  });

  it('creates a kubernetes.io/tls secret with leaf+chain, key, labels and annotations; an identical redeploy is skipped', async () => {
    const m = { ...(await ca.issue()), certificateId: 'mc-api' };
    expect(await k8s.validateOnly(config())).toMatch(/does not exist yet/);
    expect((await k8s.deploy(config(), m, {})).skippedAsIdempotent).toBe(false);
    const secret = api.secrets.get('payments/api-tls')! as Record<string, any>;
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(decode(secret.data['tls.crt'])).toBe(m.certPem + m.chainPem);
    expect(decode(secret.data['tls.key'])).toBe(m.keyPem);
    expect(secret.metadata.labels).toEqual({ team: 'payments', 'app.kubernetes.io/managed-by': 'certctl' });
    expect(secret.metadata.annotations).toMatchObject({ 'example.com/owner': 'alice', 'certctl.io/certificate-id': 'mc-api', 'certctl.io/deployed-at': expect.any(String) });
    const version = secret.metadata.resourceVersion;
    expect((await k8s.deploy(config(), m, {})).skippedAsIdempotent).toBe(true);
    expect(api.secrets.get('payments/api-tls')!.metadata.resourceVersion).toBe(version);
  });

  it('replaces with the current resourceVersion and retries when another writer got there first', async () => {
    const m = await ca.issue();
    api.conflictsBeforeNextReplace = 2;
    api.requests.length = 0;
    await k8s.deploy(config(), m, {});
    expect(decode((api.secrets.get('payments/api-tls') as Record<string, any>).data['tls.crt'])).toContain(m.certPem.trim());
    expect(api.requests.filter((r) => r.startsWith('PUT'))).toHaveLength(3);
  });

  it('puts the previous data back when the post-deploy verification fails', async () => {
    const before = (api.secrets.get('payments/api-tls') as Record<string, any>).data;
    const stale = await ca.issue();
    const ingress = createServer({ cert: stale.certPem, key: stale.keyPem! }, (s) => s.end());
    await new Promise<void>((r) => ingress.listen(0, '127.0.0.1', r));
    try {
      const port = (ingress.address() as { port: number }).port;
      const err = await k8s.deploy(config({ post_deploy_verify: { endpoint: `127.0.0.1:${port}` }, post_deploy_verify_attempts: 2, post_deploy_verify_backoff: '20ms' }), await ca.issue(), {})
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PostVerifyFailedError);
      expect((api.secrets.get('payments/api-tls') as Record<string, any>).data).toEqual(before);
    } finally {
      ingress.close();
    }
  });

  it('reports API errors: a wrong token, bad names', async () => {
    const other = new FakeKubeApiServer('old-token');
    await serve(other);
    try {
      const path = other.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kube-')));
      other.token = 'rotated'; // the kubeconfig still carries the old token
      const err = await k8s.deploy(config({ kubeconfig_path: path }), await ca.issue(), {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as Error).message).toMatch(/HTTP 401/);
    } finally {
      await other.stop();
    }
    expect(() => k8s.validateConfig(config({ namespace: 'Payments!' }))).toThrow(/namespace: must be a DNS label/);
    expect(() => k8s.validateConfig(config({ secret_name: undefined }))).toThrow(/secret_name: is required/);
    expect(() => k8s.validateConfig(config({ kubeconfig_path: 'kubeconfig' }))).toThrow(/kubeconfig_path: must be an absolute path/);
  });

  it('outside a cluster and without kubeconfig_path, says that no service account or kubeconfig was found and how to give one', async () => {
    expect(existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')).toBe(false); // this test runs outside a cluster
    for (const attempt of [() => k8s.validateOnly(config({ kubeconfig_path: undefined })), async () => k8s.deploy(config({ kubeconfig_path: undefined }), await ca.issue(), {})]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as Error).message).toMatch(/^no Kubernetes credentials: the target names no kubeconfig_path and this process does not run in a cluster/);
      expect((err as Error).message).toMatch(/Set config\.kubeconfig_path to a kubeconfig file/);
      expect((err as Error).message).not.toMatch(/Invalid URL/);
    }
  });
});
