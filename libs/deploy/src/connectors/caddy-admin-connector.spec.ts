import { describe, expect, it } from 'vitest';
import { TargetConfigError, ValidateFailedError } from '../errors';
import { caddyConfigChange } from './caddy-admin-connector';
import { validateTargetConfig } from './registry';

/** The field a Caddy config is refused for, or undefined when it is accepted. */
function problem(config: Record<string, unknown>): string | undefined {
  try {
    validateTargetConfig('Caddy', config);
    return undefined;
  } catch (err) {
    if (err instanceof TargetConfigError) return err.field;
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
