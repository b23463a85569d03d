import { describe, expect, it } from 'vitest';
import { AGENT_OUTBOUND_POLICY, DEFAULT_OUTBOUND_POLICY, OutboundPolicy, withOutboundPolicy } from '../../../config/src/outbound-url';
import { TargetConfigError, ValidateFailedError } from '../errors';
import { caddyConfigChange } from './caddy-admin-connector';
import { validateTargetConfig } from './registry';

/**
 * The field a Caddy config is refused for, or undefined when it is accepted; checked as on an agent's host
 * (loopback allowed) unless another outbound policy is given.
 */
function problem(config: Record<string, unknown>, policy: OutboundPolicy = AGENT_OUTBOUND_POLICY): string | undefined {
  return refusal(config, policy)?.field;
}

function refusal(config: Record<string, unknown>, policy: OutboundPolicy): TargetConfigError | undefined {
  try {
    withOutboundPolicy(policy, () => validateTargetConfig('Caddy', config));
    return undefined;
  } catch (err) {
    if (err instanceof TargetConfigError) return err;
    throw err;
  }
}

describe('Caddy target config', () => {
  it.each([
    [{ mode: 'ssh' }, 'mode'],
    [{ admin_api: 'ftp://127.0.0.1:2019' }, 'admin_api'],
    [{ admin_api: 'file:///etc/passwd' }, 'admin_api'],
    [{ admin_api: '127.0.0.1:2019' }, 'admin_api'],
    [{ admin_api: 'http://' }, 'admin_api'],
    [{ admin_api: 'http://127.0.0.1:2019/admin/../config' }, 'admin_api'],
    [{ admin_api: 'http://127.0.0.1:2019/%2e%2e/x' }, 'admin_api'],
    [{ admin_api: 'http://admin:secret@127.0.0.1:2019' }, 'admin_api'],
    [{ admin_api: 'http://127.0.0.1:2019/?x=1' }, 'admin_api'],
    [{ admin_api: 'unix/run/caddy.sock' }, 'admin_api'],
    [{ admin_api: 'unix//run/../tmp/caddy.sock' }, 'admin_api'],
    [{ admin_api: 42 }, 'admin_api'],
    [{ tag: 'has space' }, 'tag'],
    [{ timeout: 'soon' }, 'timeout'],
    [{ post_deploy_verify: { endpoint: 'nowhere' } }, 'post_deploy_verify.endpoint'],
    // File mode keeps its own fields.
    [{ mode: 'file' }, 'cert_dir'],
  ])('%j → %s', (config, field) => {
    expect(problem(config)).toBe(field);
  });

  it('accepts the admin API by default (certctl: http://localhost:2019), over https, on a unix socket, and file mode', () => {
    expect(problem({})).toBeUndefined();
    expect(problem({ mode: 'api', admin_api: 'http://127.0.0.1:2019', tag: 'certctl-site', timeout: '5s' })).toBeUndefined();
    expect(problem({ admin_api: 'https://[::1]:2019/caddy-admin' })).toBeUndefined();
    expect(problem({ admin_api: 'unix//run/caddy/admin.sock' })).toBeUndefined();
    expect(problem({ mode: 'file', cert_dir: '/etc/caddy/certs' })).toBeUndefined();
  });
});

describe('Caddy target config under the outbound policy', () => {
  it.each([
    [{}, /localhost is loopback/], // certctl's default http://localhost:2019, dialled from this server
    [{ admin_api: 'http://127.0.0.1:2019' }, /loopback/],
    [{ admin_api: 'http://[::127.0.0.1]:2019' }, /IPv4-compatible form of 127\.0\.0\.1/],
    [{ admin_api: 'http://169.254.169.254/' }, /cloud metadata/],
    [{ admin_api: 'unix//var/run/docker.sock' }, /not under an allowed directory/],
  ])('refuses %j from the server by default, naming admin_api', (config, message) => {
    const err = refusal(config, DEFAULT_OUTBOUND_POLICY);
    expect(err?.field).toBe('admin_api');
    expect(err?.problem).toMatch(message);
  });

  it('refuses the metadata address and docker.sock on an agent\'s host too', () => {
    expect(problem({ admin_api: 'http://169.254.169.254/' })).toBe('admin_api');
    expect(problem({ admin_api: 'unix//var/run/docker.sock' })).toBe('admin_api');
  });

  it('allows a private admin API and a socket under a listed directory', () => {
    expect(problem({ admin_api: 'http://10.1.2.3:2019' }, DEFAULT_OUTBOUND_POLICY)).toBeUndefined();
    expect(problem({ admin_api: 'unix//srv/caddy/admin.sock' }, { ...DEFAULT_OUTBOUND_POLICY, allowLoopback: true, unixSocketDirs: ['/srv/caddy'] })).toBeUndefined();
  });
});

describe('the admin API change that installs load_pem', () => {
  const pem = [{ certificate: 'c', key: 'k', tags: ['certctl:mc-1'] }];
  it.each([
    ['an existing array is replaced', { apps: { tls: { certificates: { load_pem: [] } } } }, { method: 'PATCH', path: '/config/apps/tls/certificates/load_pem', body: pem }],
    ['a TLS app without certificates', { apps: { tls: { automation: {} } } }, { method: 'POST', path: '/config/apps/tls/certificates', body: { load_pem: pem } }],
    ['no TLS app', { apps: { http: {} } }, { method: 'POST', path: '/config/apps/tls', body: { certificates: { load_pem: pem } } }],
    ['no apps', { admin: { listen: 'unix//run/a.sock' } }, { method: 'POST', path: '/config/apps', body: { tls: { certificates: { load_pem: pem } } } }],
    ['an empty Caddy (null config)', null, { method: 'POST', path: '/config/', body: { apps: { tls: { certificates: { load_pem: pem } } } } }],
  ])('%s', (_name, config, change) => {
    expect(caddyConfigChange(config, pem)).toEqual(change);
  });

  it('refuses a config whose TLS app is not an object', () => {
    expect(() => caddyConfigChange({ apps: { tls: 'odd' } }, pem)).toThrow(ValidateFailedError);
  });
});
