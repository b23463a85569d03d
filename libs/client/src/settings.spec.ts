import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertctlConfigError } from './errors';
import { DEFAULT_SERVER_URL, resolveSettings } from './settings';

describe('resolveSettings', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'certctl-settings-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const writeConfig = (content: string, path = join(home, '.config', 'certctl', 'config.json')) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
    return path;
  };

  it('defaults to the local api and no key when nothing is configured', () => {
    expect(resolveSettings({ env: { HOME: home } })).toEqual({ serverUrl: DEFAULT_SERVER_URL, apiKey: undefined, timeoutMs: 30_000 });
  });

  it('takes flags over the environment over the default config file', () => {
    writeConfig(JSON.stringify({ server_url: 'http://file.example:1', api_key: 'from-file' }));
    expect(resolveSettings({ env: { HOME: home } })).toMatchObject({ serverUrl: 'http://file.example:1', apiKey: 'from-file' });
    const env = { HOME: home, CERTCTL_SERVER_URL: 'https://env.example/', CERTCTL_API_KEY: 'from-env' };
    expect(resolveSettings({ env })).toMatchObject({ serverUrl: 'https://env.example', apiKey: 'from-env' });
    expect(resolveSettings({ env, flags: { server: 'http://flag.example:9', apiKey: 'from-flag' } }))
      .toMatchObject({ serverUrl: 'http://flag.example:9', apiKey: 'from-flag' });
    // An empty variable counts as unset, so the file still applies.
    expect(resolveSettings({ env: { HOME: home, CERTCTL_API_KEY: ' ' } }).apiKey).toBe('from-file');
  });

  it('reads CERTCTL_CONFIG, and fails naming the file when it is missing, not JSON or mistyped', () => {
    const named = writeConfig(JSON.stringify({ api_key: 'named' }), join(home, 'elsewhere.json'));
    expect(resolveSettings({ env: { HOME: home, CERTCTL_CONFIG: named } }).apiKey).toBe('named');
    const missing = join(home, 'missing.json');
    expect(() => resolveSettings({ env: { HOME: home, CERTCTL_CONFIG: missing } })).toThrow(new RegExp(`cannot read config file ${missing}`));
    const garbage = writeConfig('api_key = x', join(home, 'garbage.json'));
    expect(() => resolveSettings({ env: { HOME: home }, flags: { config: garbage } })).toThrow(/garbage\.json is not valid JSON/);
    const mistyped = writeConfig(JSON.stringify({ api_key: 42 }), join(home, 'mistyped.json'));
    expect(() => resolveSettings({ env: { HOME: home }, flags: { config: mistyped } })).toThrow(/api_key must be a string/);
  });

  it('warns when the file that supplies the key is readable by group or others, and not when it is 0600', () => {
    const path = writeConfig(JSON.stringify({ api_key: 'secret-key' }), join(home, 'open.json'));
    chmodSync(path, 0o644);
    expect(resolveSettings({ env: { HOME: home, CERTCTL_CONFIG: path } }).warnings).toEqual([
      `config file ${path} holds an API key and other users may read it: chmod 600 ${path}`,
    ]);
    // The environment's key wins, so the file's key is not in use and not worth a warning.
    expect(resolveSettings({ env: { HOME: home, CERTCTL_CONFIG: path, CERTCTL_API_KEY: 'env-key' } }).warnings).toBeUndefined();
    chmodSync(path, 0o600);
    expect(resolveSettings({ env: { HOME: home, CERTCTL_CONFIG: path } }).warnings).toBeUndefined();
  });

  it('namedOnly (the MCP server): never the default file, an empty CERTCTL_API_KEY is an error, a named file is reported', () => {
    writeConfig(JSON.stringify({ server_url: 'http://file.example:1', api_key: 'admin-key-in-default-file' }));
    expect(resolveSettings({ env: { HOME: home }, namedOnly: true })).toEqual({ serverUrl: DEFAULT_SERVER_URL, apiKey: undefined, timeoutMs: 30_000 });
    expect(() => resolveSettings({ env: { HOME: home, CERTCTL_API_KEY: '' }, namedOnly: true })).toThrow(/CERTCTL_API_KEY is set but empty/);
    expect(() => resolveSettings({ env: { HOME: home, CERTCTL_API_KEY: ' ' }, namedOnly: true })).toThrow(CertctlConfigError);
    const named = writeConfig(JSON.stringify({ api_key: 'named' }), join(home, 'mcp.json'));
    chmodSync(named, 0o600);
    expect(resolveSettings({ env: { HOME: home, CERTCTL_CONFIG: named }, namedOnly: true })).toMatchObject({ apiKey: 'named', keySource: `"api_key" in ${named}` });
    expect(resolveSettings({ env: { HOME: home, CERTCTL_CONFIG: named, CERTCTL_API_KEY: 'env' }, namedOnly: true }).keySource).toBeUndefined();
  });

  it('refuses a server URL that is not http(s)', () => {
    expect(() => resolveSettings({ env: { HOME: home, CERTCTL_SERVER_URL: 'localhost:8080' } })).toThrow(CertctlConfigError);
    expect(() => resolveSettings({ env: { HOME: home, CERTCTL_SERVER_URL: 'ftp://x' } })).toThrow(/must start with http:\/\/ or https:\/\//);
  });
});
