import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('has working defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.server).toEqual({ host: '127.0.0.1', port: 8080, maxBodyBytes: 1024 * 1024 });
    expect(config.auth.type).toBe('api-key');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it.each([
    ['CERTCTL_SERVER_PORT', 'http', /CERTCTL_SERVER_PORT must be an integer/],
    ['CERTCTL_SERVER_PORT', '70000', /CERTCTL_SERVER_PORT must be between 0 and 65535/],
    ['CERTCTL_DATABASE_URL', 'not a url', /CERTCTL_DATABASE_URL must be a URL/],
    ['CERTCTL_DATABASE_URL', 'mysql://x/y', /CERTCTL_DATABASE_URL must use postgres:/],
    ['CERTCTL_REDIS_URL', 'http://x', /CERTCTL_REDIS_URL must use redis:/],
    ['CERTCTL_AUTH_TYPE', 'jwt', /CERTCTL_AUTH_TYPE must be one of api-key, none/],
    ['CERTCTL_LOG_LEVEL', 'loud', /CERTCTL_LOG_LEVEL must be one of/],
    ['CERTCTL_API_KEY', 'short', /CERTCTL_API_KEY must be at least 16 characters/],
    ['CERTCTL_DEMO_SEED', 'maybe', /CERTCTL_DEMO_SEED must be true or false/],
    ['CERTCTL_MAX_BODY_SIZE', '12', /CERTCTL_MAX_BODY_SIZE must be between/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('never echoes a password from a bad database URL', () => {
    expect(() => loadConfig({ CERTCTL_DATABASE_URL: 'postgres//user:hunter2@host' })).not.toThrow(/hunter2/);
  });

  it('accepts booleans in the usual spellings', () => {
    expect(loadConfig({ CERTCTL_DEMO_SEED: 'off' }).demoSeed).toBe(false);
    expect(loadConfig({ CERTCTL_DEMO_SEED: 'TRUE' }).demoSeed).toBe(true);
  });
});
