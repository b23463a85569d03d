import { describe, expect, it } from 'vitest';
import { TargetConfigError } from '../errors';
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
