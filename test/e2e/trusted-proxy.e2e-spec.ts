import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@certctl/config';
import { ApiHarness, startApi } from '../support/api-harness';

/**
 * CERTCTL_TRUSTED_PROXIES: behind a trusted reverse proxy that terminated TLS, the session cookies are Secure and
 * the session records the client's address from X-Forwarded-For; the same headers from any other peer are ignored
 * (no Secure cookie over plain http, the peer's own address). The sign-in used is the break-glass login, which
 * sets the same session cookies as an OpenID sign-in.
 */
describe('trusted proxies', () => {
  const password = 'correct horse battery staple 42';
  const boot = async (trustedProxies: string): Promise<ApiHarness> => {
    const api = await startApi({ CERTCTL_BREAKGLASS_ENABLED: 'true', CERTCTL_TRUSTED_PROXIES: trustedProxies, CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN: '2' });
    await api.http.post('/api/v1/auth/breakglass/credentials').set(api.auth()).send({ username: 'emergency', password }).expect(201);
    return api;
  };
  let trusting: ApiHarness;
  let distrusting: ApiHarness;

  beforeAll(async () => {
    // The tests reach the api from loopback: the first trusts it as its proxy, the second trusts only 10.0.0.0/8.
    trusting = await boot('127.0.0.1/32, ::1');
    distrusting = await boot('10.0.0.0/8');
  });
  afterAll(async () => {
    await trusting?.close();
    await distrusting?.close();
  });

  const signInThroughProxy = (api: ApiHarness) => api.http.post('/auth/breakglass/login')
    .set('X-Forwarded-Proto', 'https').set('X-Forwarded-For', '203.0.113.7, 127.0.0.1')
    .send({ username: 'emergency', password });
  const cookies = (res: { headers: Record<string, unknown> }) => (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const lastSessionIp = async (api: ApiHarness) => (await api.db.query('SELECT ip FROM sessions ORDER BY created_at DESC LIMIT 1')).rows[0].ip as string;

  it('from a trusted proxy: Secure session and CSRF cookies, and the client address from X-Forwarded-For', async () => {
    const res = await signInThroughProxy(trusting).expect(200);
    const set = cookies(res);
    expect(set.find((c) => c.startsWith('certctl_session='))).toMatch(/;\s*Secure/i);
    expect(set.find((c) => c.startsWith('certctl_csrf='))).toMatch(/;\s*Secure/i);
    // X-Forwarded-For is read right to left, skipping trusted hops: the first untrusted address is the client.
    expect(await lastSessionIp(trusting)).toBe('203.0.113.7');
    await trusting.flushAudit();
    const { rows } = await trusting.db.query(`SELECT details FROM audit_events WHERE action = 'breakglass_login' ORDER BY seq DESC LIMIT 1`);
    expect(rows[0].details.ip).toBe('203.0.113.7');
  });

  it('from any other peer: the forwarded headers are ignored (no Secure over plain http, the peer\'s own address)', async () => {
    const res = await signInThroughProxy(distrusting).expect(200);
    const set = cookies(res);
    expect(set.find((c) => c.startsWith('certctl_session='))).toBeDefined();
    expect(set.some((c) => /;\s*Secure/i.test(c))).toBe(false);
    expect(await lastSessionIp(distrusting)).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });

  /** OCSP GETs (answered ahead of Express) from `clients` in turn via X-Forwarded-For; which ones were rate-limited. */
  async function ocspLimited(api: ApiHarness, clients: string[]): Promise<boolean[]> {
    const issuer = await api.http.post('/api/v1/issuers').set(api.auth()).send({ name: `ca-${clients.length}-${Date.now()}`, type: 'GenericCA' }).expect(201);
    const limited: boolean[] = [];
    for (const client of clients) {
      const res = await api.http.get(`/.well-known/pki/ocsp/${issuer.body.id}/0a`).set('X-Forwarded-For', client);
      limited.push(res.headers['retry-after'] !== undefined);
    }
    return limited;
  }

  it('the OCSP rate limit counts each client behind a trusted proxy, and the peer itself otherwise', async () => {
    // Two per minute per client: the third request of one client is limited, another client is not.
    expect(await ocspLimited(trusting, ['203.0.113.7', '203.0.113.7', '203.0.113.7', '203.0.113.8'])).toEqual([false, false, true, false]);
    // Not trusted: every request counts against the peer, whatever X-Forwarded-For claims.
    expect(await ocspLimited(distrusting, ['203.0.113.7', '203.0.113.8', '203.0.113.9'])).toEqual([false, false, true]);
  });

  it('a malformed CERTCTL_TRUSTED_PROXIES stops the process naming the variable', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.example.com', '::1/129', '10.0.0.1/8/2']) {
      expect(() => loadConfig({ CERTCTL_TRUSTED_PROXIES: bad, CERTCTL_AUTH_TYPE: 'none' }, 'api'), bad).toThrow(/CERTCTL_TRUSTED_PROXIES/);
    }
    expect(loadConfig({ CERTCTL_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.1, fd00::/8', CERTCTL_AUTH_TYPE: 'none' }, 'api').server.trustedProxies)
      .toEqual(['10.0.0.0/8', '192.168.1.1', 'fd00::/8']);
  });
});
