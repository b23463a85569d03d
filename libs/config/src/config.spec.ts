import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';
import { loadDeployConfig } from './deploy-config';

describe('loadConfig', () => {
  it('has working defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.server).toEqual({ host: '127.0.0.1', port: 8080, maxBodyBytes: 1024 * 1024, readCacheTtlMs: 5000, shutdownTimeoutMs: 25000, trustedProxies: [] });
    expect(config.auth.type).toBe('api-key');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it.each([
    ['CERTCTL_SERVER_PORT', 'http', /CERTCTL_SERVER_PORT must be an integer/],
    ['CERTCTL_SERVER_PORT', '70000', /CERTCTL_SERVER_PORT must be between 0 and 65535/],
    ['CERTCTL_DATABASE_URL', 'not a url', /CERTCTL_DATABASE_URL must be a URL/],
    ['CERTCTL_DATABASE_URL', 'mysql://x/y', /CERTCTL_DATABASE_URL must use postgres:/],
    ['CERTCTL_REDIS_URL', 'http://x', /CERTCTL_REDIS_URL must use redis:/],
    ['CERTCTL_AUTH_TYPE', 'jwt', /CERTCTL_AUTH_TYPE must be one of api-key, oidc, none/],
    ['CERTCTL_LOG_LEVEL', 'loud', /CERTCTL_LOG_LEVEL must be one of/],
    ['CERTCTL_API_KEY', 'short', /CERTCTL_API_KEY must be at least 16 characters/],
    ['CERTCTL_DEMO_SEED', 'maybe', /CERTCTL_DEMO_SEED must be true or false/],
    ['CERTCTL_MAX_BODY_SIZE', '12', /CERTCTL_MAX_BODY_SIZE must be between/],
    ['CERTCTL_AUDIT_HMAC_KEY', 'too-short-for-a-mac-key', /CERTCTL_AUDIT_HMAC_KEY must be at least 32 bytes/],
    ['CERTCTL_AUDIT_CHECKPOINT_INTERVAL', 'often', /CERTCTL_AUDIT_CHECKPOINT_INTERVAL must be a duration/],
    ['CERTCTL_MIGRATE_DATABASE_URL', 'mysql://x/y', /CERTCTL_MIGRATE_DATABASE_URL must use postgres:/],
    ['CERTCTL_ACME_SERVER_NONCE_KEYS', `${'k'.repeat(32)},short`, /CERTCTL_ACME_SERVER_NONCE_KEYS each key must be at least 32 bytes/],
    ['CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN', '-1', /CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN must be between/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('never echoes a password from a bad database URL', () => {
    expect(() => loadConfig({ CERTCTL_DATABASE_URL: 'postgres//user:hunter2@host' })).not.toThrow(/hunter2/);
  });

  it('migrates as CERTCTL_MIGRATE_DATABASE_URL when set, else as the apps\' own URL; the audit key is optional', () => {
    const apps = 'postgres://certctl_app:x@db:5432/certctl';
    expect(loadConfig({ CERTCTL_DATABASE_URL: apps }).database.migrateUrl).toBe(apps);
    const owner = 'postgres://certctl:y@db:5432/certctl';
    expect(loadConfig({ CERTCTL_DATABASE_URL: apps, CERTCTL_MIGRATE_DATABASE_URL: owner }).database).toMatchObject({ url: apps, migrateUrl: owner });
    expect(loadConfig({}).audit).toEqual({ hmacKey: undefined, checkpointIntervalMs: 5_000 });
  });

  it('accepts booleans in the usual spellings', () => {
    expect(loadConfig({ CERTCTL_DEMO_SEED: 'off' }).demoSeed).toBe(false);
    expect(loadConfig({ CERTCTL_DEMO_SEED: 'TRUE' }).demoSeed).toBe(true);
  });
});

describe('loadConfig: notifications', () => {
  it('defaults to 5 attempts, 1 minute doubling to 1 hour, Email, and no loopback', () => {
    const n = loadConfig({}).notifications;
    expect(n).toMatchObject({ maxAttempts: 5, backoffBaseMs: 60_000, backoffMaxMs: 3_600_000, defaultChannels: ['Email'] });
    expect(n.smtp).toMatchObject({ port: 587, useTls: true });
    expect(n.pagerduty.eventsUrl).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(n.linkBaseUrl).toBe('http://127.0.0.1:8080');
  });

  it.each([
    ['CERTCTL_NOTIFICATION_MAX_ATTEMPTS', '0', /CERTCTL_NOTIFICATION_MAX_ATTEMPTS must be between 1 and 20/],
    ['CERTCTL_NOTIFICATION_BACKOFF_BASE', 'soon', /CERTCTL_NOTIFICATION_BACKOFF_BASE must be a duration/],
    ['CERTCTL_NOTIFICATION_DEFAULT_CHANNELS', 'Email,Pager', /CERTCTL_NOTIFICATION_DEFAULT_CHANNELS must list channels/],
    ['CERTCTL_WEBHOOK_URL', 'not a url', /CERTCTL_WEBHOOK_URL is not a valid URL/],
    ['CERTCTL_WEBHOOK_URL', 'http://169.254.169.254/latest', /CERTCTL_WEBHOOK_URL 169.254.169.254 is a cloud metadata address/],
    ['CERTCTL_SLACK_WEBHOOK_URL', 'http://127.0.0.1:9/hook', /CERTCTL_SLACK_WEBHOOK_URL 127.0.0.1 is loopback/],
    ['CERTCTL_TEAMS_WEBHOOK_URL', 'ftp://example.com/x', /CERTCTL_TEAMS_WEBHOOK_URL must use http: or https:/],
    ['CERTCTL_OPSGENIE_PRIORITY', 'P9', /CERTCTL_OPSGENIE_PRIORITY must be one of P1..P5/],
    ['CERTCTL_PAGERDUTY_SEVERITY', 'loud', /CERTCTL_PAGERDUTY_SEVERITY must be one of/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('refuses a backoff cap shorter than its base', () => {
    expect(() => loadConfig({ CERTCTL_NOTIFICATION_BACKOFF_BASE: '2m', CERTCTL_NOTIFICATION_BACKOFF_MAX: '1m' })).toThrow(/BACKOFF_MAX/);
  });

  it('allows loopback webhooks only when loopback is allowed (CERTCTL_NOTIFIER_ALLOW_LOOPBACK still counts)', () => {
    for (const flag of ['CERTCTL_OUTBOUND_ALLOW_LOOPBACK', 'CERTCTL_NOTIFIER_ALLOW_LOOPBACK']) {
      const env = { CERTCTL_WEBHOOK_URL: 'http://127.0.0.1:9/hook', [flag]: 'true' };
      expect(loadConfig(env).notifications.webhook.url).toBe('http://127.0.0.1:9/hook');
    }
  });
});

describe('loadConfig: outbound policy', () => {
  it('defaults to no loopback, private ranges allowed, unix sockets under Caddy\'s run directories', () => {
    expect(loadConfig({}).outbound).toEqual({ allowLoopback: false, allowPrivate: true, unixSocketDirs: ['/run/caddy', '/var/run/caddy'] });
  });

  it('reads its settings; the new loopback variable wins over the notifier-only one', () => {
    const o = loadConfig({
      CERTCTL_OUTBOUND_ALLOW_LOOPBACK: 'false', CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true', CERTCTL_BLOCK_RFC1918_OUTBOUND: 'true',
      CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS: '/srv/sockets, /run/caddy',
    }).outbound;
    expect(o).toEqual({ allowLoopback: false, allowPrivate: false, unixSocketDirs: ['/srv/sockets', '/run/caddy'] });
    expect(loadConfig({ CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS: 'none' }).outbound.unixSocketDirs).toEqual([]);
  });

  it.each([
    ['CERTCTL_OUTBOUND_ALLOW_LOOPBACK', 'maybe', /CERTCTL_OUTBOUND_ALLOW_LOOPBACK must be true or false/],
    ['CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS', 'run/caddy', /CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS must list absolute directories/],
    ['CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS', '/', /CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS must list absolute directories other than \//],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('loadConfig: network scan', () => {
  it('defaults to a 65,536-address cap, no loopback, RFC 1918 allowed, thousands of sockets', () => {
    const s = loadConfig({}).networkScan;
    expect(s).toMatchObject({ maxAddresses: 65_536, allowLoopback: false, blockRfc1918: false, shardSize: 256, rateLimitPerSecond: 5_000, handshakeConcurrency: 128 });
    expect(s.concurrency).toBeGreaterThanOrEqual(1_000);
  });

  it('reads the overrides and rejects bad values naming the variable', () => {
    const s = loadConfig({ CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true', CERTCTL_BLOCK_RFC1918_OUTBOUND: 'yes', CERTCTL_NETWORK_SCAN_MAX_ADDRESSES: '4096' }).networkScan;
    expect(s).toMatchObject({ allowLoopback: true, blockRfc1918: true, maxAddresses: 4096 });
    expect(() => loadConfig({ CERTCTL_NETWORK_SCAN_MAX_ADDRESSES: '0' })).toThrow(/CERTCTL_NETWORK_SCAN_MAX_ADDRESSES must be between/);
    expect(() => loadConfig({ CERTCTL_NETWORK_SCAN_RATE_LIMIT: 'fast' })).toThrow(/CERTCTL_NETWORK_SCAN_RATE_LIMIT must be an integer/);
    expect(loadConfig({ CERTCTL_NETWORK_SCAN_HANDSHAKE_CONCURRENCY: '16' }).networkScan.handshakeConcurrency).toBe(16);
    expect(() => loadConfig({ CERTCTL_NETWORK_SCAN_HANDSHAKE_CONCURRENCY: '0' })).toThrow(/CERTCTL_NETWORK_SCAN_HANDSHAKE_CONCURRENCY must be between/);
  });
});

describe('loadDeployConfig: what target configs may do on a deploying host', () => {
  it('defaults to the packaged daemons\' commands and directories, and a bad value names the variable', () => {
    const defaults = loadDeployConfig({});
    expect(defaults.commandAllowlist).toContainEqual(['haproxy', '-c', '-f', '{path}']);
    expect(defaults.allowedRoots).toEqual(expect.arrayContaining(['/etc/ssl', '/etc/pki', '/etc/nginx', '/etc/haproxy']));
    expect(defaults).toMatchObject({ commandUser: undefined, testTimeoutMs: 45_000 });
    expect(loadDeployConfig({ CERTCTL_DEPLOY_COMMAND_ALLOWLIST: 'nginx -t; /opt/hooks/* {path}', CERTCTL_DEPLOY_ALLOWED_ROOTS: '/srv/tls/' }))
      .toMatchObject({ commandAllowlist: [['nginx', '-t'], ['/opt/hooks/*', '{path}']], allowedRoots: ['/srv/tls'] });
    expect(() => loadDeployConfig({ CERTCTL_DEPLOY_COMMAND_ALLOWLIST: 'sh -c "id"' })).toThrow(/CERTCTL_DEPLOY_COMMAND_ALLOWLIST/);
    expect(() => loadDeployConfig({ CERTCTL_DEPLOY_ALLOWED_ROOTS: 'etc/ssl' })).toThrow(/CERTCTL_DEPLOY_ALLOWED_ROOTS "etc\/ssl" is not an absolute path/);
    expect(() => loadDeployConfig({ CERTCTL_DEPLOY_COMMAND_USER: 'a b' })).toThrow(ConfigError);
  });
});

describe('CERTCTL_CAA_RESOLVER', () => {
  it('is unset by default (the system resolvers), takes host:port and [v6]:port, and names itself when malformed', () => {
    expect(loadConfig({}).acme.caaResolver).toBeUndefined();
    expect(loadConfig({ CERTCTL_CAA_RESOLVER: '127.0.0.1:5353' }).acme.caaResolver).toBe('127.0.0.1:5353');
    expect(loadConfig({ CERTCTL_CAA_RESOLVER: '[::1]:53' }).acme.caaResolver).toBe('[::1]:53');
    for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'dns://1.1.1.1:53']) {
      expect(() => loadConfig({ CERTCTL_CAA_RESOLVER: bad })).toThrow(/CERTCTL_CAA_RESOLVER/);
    }
  });
});
