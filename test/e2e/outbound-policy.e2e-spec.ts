import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { post, unique } from '../support/fixtures';

/**
 * Issue 19 item 9: every destination an API caller can set passes one outbound policy when it is written. The
 * examples of the issue, each a 400 naming the field, under the production defaults (loopback refused, private
 * ranges allowed) and then with CERTCTL_BLOCK_RFC1918_OUTBOUND=true. Connect-time checks (a name that resolves to
 * a refused address) are covered where a resolver can be injected: libs/config/src/outbound-url.spec.ts and
 * apps/notifier/src/channels/channels.spec.ts.
 */
const SSH_BASE = { user: 'deploy', auth_method: 'password', password: 'pw-123456', host_key_fingerprint: `SHA256:${'A'.repeat(43)}`, cert_path: '/etc/ssl/certctl/c.pem' };

function expectFieldRefused(res: { status: number; body: any }, field: string, message: RegExp): void {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.details.map((d: { field: string }) => d.field)).toEqual([field]);
  expect(res.body.details[0].message).toMatch(message);
}

describe('outbound policy at create time, production defaults (no loopback)', () => {
  let api: ApiHarness;

  beforeAll(async () => {
    api = await startApi({ CERTCTL_OUTBOUND_ALLOW_LOOPBACK: 'false', CERTCTL_BLOCK_RFC1918_OUTBOUND: 'false' });
  });
  afterAll(async () => api?.close());

  const create = (path: string, body: object) => api.http.post(path).set(api.auth()).send(body);

  it.each([
    ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a cloud metadata address/],
    ['http://[::ffff:169.254.169.254]/dir', /IPv4-mapped form of 169\.254\.169\.254/],
    ['http://2852039166/dir', /169\.254\.169\.254 is a cloud metadata address/],
    ['https://127.0.0.1:14000/dir', /loopback.*CERTCTL_OUTBOUND_ALLOW_LOOPBACK/],
  ])('refuses an ACME directory_url on %s (config.directory_url)', async (url, message) => {
    const res = await create('/api/v1/issuers', { name: unique('acme'), type: 'ACME', config: { directory_url: url } });
    expectFieldRefused(res, 'config.directory_url', message);
  });

  it.each([
    ['unix//var/run/docker.sock', /unix socket \/var\/run\/docker\.sock is not under an allowed directory/],
    ['unix//run/caddy/../docker.sock', /"\.\."/],
    ['http://169.254.169.254/', /cloud metadata/],
    ['http://localhost:2019', /localhost is loopback/],
  ])('refuses a Caddy admin_api of %s (config.admin_api)', async (adminApi, message) => {
    const res = await create('/api/v1/targets', { name: unique('caddy'), type: 'Caddy', config: { admin_api: adminApi } });
    expectFieldRefused(res, 'config.admin_api', message);
  });

  it.each([
    ['127.0.0.1:6392', /127\.0\.0\.1 is loopback/], // our own Redis's neighbourhood
    ['[::127.0.0.1]:6379', /IPv4-compatible form of 127\.0\.0\.1/],
    ['2130706433:6379', /127\.0\.0\.1 is loopback/],
    ['169.254.169.254:443', /cloud metadata/],
  ])('refuses a post-deploy verify endpoint %s (config.post_deploy_verify.endpoint)', async (endpoint, message) => {
    const res = await create('/api/v1/targets', {
      name: unique('file'), type: 'File', config: { cert_path: '/etc/ssl/certctl/c.pem', post_deploy_verify: { enabled: true, endpoint } },
    });
    expectFieldRefused(res, 'config.post_deploy_verify.endpoint', message);
  });

  it.each([
    ['169.254.169.254', /cloud metadata/],
    ['0xa9fea9fe', /cloud metadata/],
    ['100.100.100.200', /cloud metadata/],
    ['fe80::1%eth0', /link-local/],
    ['localhost', /loopback/],
  ])('refuses SSH host %s (config.host)', async (host, message) => {
    const res = await create('/api/v1/targets', { name: unique('ssh'), type: 'SSH', config: { ...SSH_BASE, host } });
    expectFieldRefused(res, 'config.host', message);
  });

  it.each([
    ['http://100.100.100.200/latest/meta-data/', /100\.100\.100\.200 is a cloud metadata address/],
    ['http://[::127.0.0.1]:6379/', /IPv4-compatible form of 127\.0\.0\.1/],
    ['http://[fd00:ec2::254]/', /cloud metadata/],
    ['http://0x7f.1:6379/', /127\.0\.0\.1 is loopback/],
  ])('refuses a webhook to %s (recipient)', async (url, message) => {
    const res = await create('/api/v1/notifications', { type: 'ExpirationWarning', channel: 'Webhook', recipient: url, message: 'x' });
    expectFieldRefused(res, 'recipient', message);
  });

  it('checks on update too', async () => {
    const target = await post(api, '/api/v1/targets', { name: unique('ssh'), type: 'SSH', config: { ...SSH_BASE, host: 'deploy.example.com' } });
    const res = await api.http.put(`/api/v1/targets/${target.id}`).set(api.auth()).send({ config: { ...SSH_BASE, host: '169.254.169.254' } });
    expectFieldRefused(res, 'config.host', /cloud metadata/);
  });

  it('an agent\'s target may use its own host\'s loopback, never the metadata service or docker.sock', async () => {
    const agent = await post(api, '/api/v1/agents', { name: unique('host') });
    const onAgent = (config: object) => create('/api/v1/targets', { name: unique('caddy'), type: 'Caddy', agent_id: agent.id, config });
    expect((await onAgent({ admin_api: 'http://localhost:2019', post_deploy_verify: { endpoint: '127.0.0.1:443' } })).status).toBe(201);
    expectFieldRefused(await onAgent({ admin_api: 'http://169.254.169.254/' }), 'config.admin_api', /cloud metadata/);
    expectFieldRefused(await onAgent({ admin_api: 'unix//var/run/docker.sock' }), 'config.admin_api', /not under an allowed directory/);
  });

  it('accepts private and public destinations', async () => {
    await post(api, '/api/v1/issuers', { name: unique('acme'), type: 'ACME', config: { directory_url: 'https://acme.internal.example/directory' } });
    await post(api, '/api/v1/targets', { name: unique('caddy'), type: 'Caddy', config: { admin_api: 'http://10.0.0.5:2019' } });
    await post(api, '/api/v1/targets', { name: unique('caddy'), type: 'Caddy', config: { admin_api: 'unix//run/caddy/admin.sock' } });
    await post(api, '/api/v1/targets', { name: unique('ssh'), type: 'SSH', config: { ...SSH_BASE, host: '192.168.1.20' } });
    await post(api, '/api/v1/notifications', { type: 'ExpirationWarning', channel: 'Webhook', recipient: 'http://10.0.0.1/hook', message: 'x' });
  });
});

describe('outbound policy at create time with CERTCTL_BLOCK_RFC1918_OUTBOUND=true', () => {
  let api: ApiHarness;

  beforeAll(async () => {
    api = await startApi({ CERTCTL_OUTBOUND_ALLOW_LOOPBACK: 'false', CERTCTL_BLOCK_RFC1918_OUTBOUND: 'true' });
  });
  afterAll(async () => api?.close());

  it.each([
    ['http://10.0.0.1/hook', /10\.0\.0\.1 is private \(10\.0\.0\.0\/8\), refused while CERTCTL_BLOCK_RFC1918_OUTBOUND=true/],
    ['http://192.168.0.1/hook', /192\.168\.0\.1 is private \(192\.168\.0\.0\/16\)/],
    ['http://[fc00::1]/hook', /fc00::1 is a unique local address/],
    ['http://172.16.0.1/hook', /172\.16\.0\.0\/12/],
    ['http://100.64.0.1/hook', /CGNAT/],
    ['http://[::ffff:10.0.0.1]/hook', /IPv4-mapped form of 10\.0\.0\.1/],
  ])('refuses a webhook to %s (recipient)', async (url, message) => {
    const res = await api.http.post('/api/v1/notifications').set(api.auth()).send({ type: 'ExpirationWarning', channel: 'Webhook', recipient: url, message: 'x' });
    expectFieldRefused(res, 'recipient', message);
  });

  it('refuses private issuer, admin API, SSH and verify destinations too, and still accepts a public webhook', async () => {
    const create = (path: string, body: object) => api.http.post(path).set(api.auth()).send(body);
    expectFieldRefused(await create('/api/v1/issuers', { name: unique('acme'), type: 'ACME', config: { directory_url: 'https://10.1.1.1/dir' } }), 'config.directory_url', /private/);
    expectFieldRefused(await create('/api/v1/targets', { name: unique('caddy'), type: 'Caddy', config: { admin_api: 'http://192.168.5.5:2019' } }), 'config.admin_api', /private/);
    expectFieldRefused(await create('/api/v1/targets', { name: unique('ssh'), type: 'SSH', config: { ...SSH_BASE, host: 'fd00::10' } }), 'config.host', /unique local/);
    expectFieldRefused(
      await create('/api/v1/targets', { name: unique('file'), type: 'File', config: { cert_path: '/etc/ssl/certctl/c.pem', post_deploy_verify: { endpoint: '172.20.0.4:443' } } }),
      'config.post_deploy_verify.endpoint', /private/,
    );
    await post(api, '/api/v1/notifications', { type: 'ExpirationWarning', channel: 'Webhook', recipient: 'https://hooks.example.com/services/x', message: 'x' });
  });
});
