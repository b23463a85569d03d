import type { Browser, BrowserContext, Page, Response as PageResponse } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { ApiHarness } from '../support/api-harness';
import { waitFor } from '../support/notifier-peers';
import { OidcConsole, chromiumSuite, startOidcConsole } from '../support/oidc-console';
import { OidcPeer } from '../support/oidc-provider-peer';

/**
 * OpenID sign-in against a real provider (oidc-provider, started here with its own login and consent pages) and
 * real Chromium: the console's "Sign in with …" link, the provider's pages, the callback, the session cookie and
 * its CSRF token, back-channel and RP-initiated logout, and every id_token the relying party must refuse.
 */
const { missing, suite } = chromiumSuite('oidc-sign-in.e2e');

const ADMINS = 'certctl-admins';
const VIEWERS = 'certctl-viewers';

suite('OpenID sign-in with a real provider, in Chromium', () => {
  let oidc: OidcConsole | undefined;
  let p: ApiHarness;
  let peer: OidcPeer;
  let browser: Browser;
  let base: string;
  let providerId: string;
  let adminMappingId: string;
  let alice: { context: BrowserContext; page: Page };
  let replayableCallback: string | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    oidc = await startOidcConsole({
      missing,
      users: {
        alice: { email: 'alice@example.test', groups: [ADMINS, 'unmapped'] },
        bob: { email: 'bob@example.test', groups: [VIEWERS] },
        carol: { email: 'carol@elsewhere.test', groups: [ADMINS] },
        dave: { email: 'dave@example.test', groups: { not: 'a list' } },
        erin: { email: 'erin@example.test', groups: ['nobody-maps-this'] },
      },
      env: { CERTCTL_CONFIG_ENCRYPTION_KEY: 'oidc-e2e-config-encryption-key-0123456789' },
    });
    ({ p, peer, browser, base } = oidc);
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await oidc?.close();
  });

  /** A call to the api with a cookie session (and optionally its CSRF token) or a key. */
  async function call(method: string, path: string, as: { cookies?: Cookies; csrf?: boolean; key?: string; body?: unknown; cookieHeader?: string } = {}) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (as.cookies) headers.cookie = `certctl_session=${as.cookies.session}`;
    if (as.cookieHeader) headers.cookie = as.cookieHeader;
    if (as.csrf && as.cookies) headers['x-csrf-token'] = as.cookies.csrf;
    if (as.key) headers.authorization = `Bearer ${as.key}`;
    if (as.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: as.body === undefined ? undefined : JSON.stringify(as.body), redirect: 'manual' });
    const text = await res.text();
    return { status: res.status, body: text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text, headers: res.headers };
  }

  interface Cookies { session: string; csrf: string }

  async function cookiesOf(context: BrowserContext): Promise<Cookies | undefined> {
    const all = await context.cookies(base);
    const session = all.find((c) => c.name === 'certctl_session');
    const csrf = all.find((c) => c.name === 'certctl_csrf');
    return session && csrf ? { session: session.value, csrf: csrf.value } : undefined;
  }

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    contexts.push(context);
    return context;
  }

  /** Goes through the provider's own login and consent pages as `login`; resolves with the callback's answer. */
  async function throughProvider(page: Page, start: () => Promise<unknown>, login: string): Promise<PageResponse> {
    const callback = page.waitForResponse((r) => r.url().startsWith(`${base}/auth/oidc/callback`), { timeout: 30_000 });
    await start();
    await page.waitForURL((url) => url.href.startsWith(peer.issuer));
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    return callback;
  }

  /** Signs `login` in from the console's sign-in page, in a fresh browser context. */
  async function signInFromConsole(login: string): Promise<{ context: BrowserContext; page: Page; cookies: Cookies }> {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await throughProvider(page, () => page.getByRole('link', { name: 'Sign in with Test IdP' }).click(), login);
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    return { context, page, cookies: (await cookiesOf(context))! };
  }

  async function liveSessions(): Promise<number> {
    const { rows: [{ n }] } = await p.db.query('SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NULL');
    return n;
  }

  it('refuses a bad discovery URL (400 on issuer_url), an unknown provider (404), and keeps the client secret sealed', async () => {
    const closed = await freePort();
    const bad = { name: 'Bad', client_id: 'x', redirect_uri: 'http://127.0.0.1/cb' };
    for (const issuer_url of ['not a url', 'http://169.254.169.254/', `http://127.0.0.1:${closed}`, 'file:///etc/passwd']) {
      const res = await p.http.post('/api/v1/auth/oidc/providers').set(p.auth()).send({ ...bad, issuer_url });
      expect(res.status, issuer_url).toBe(400);
      expect(res.body.details?.[0]?.field, issuer_url).toBe('issuer_url');
    }
    expect((await p.http.get('/api/v1/auth/oidc/providers/oidc-nope').set(p.auth())).status).toBe(404);
    expect((await call('GET', '/auth/oidc/login?provider=oidc-nope')).status).toBe(404);
    expect((await p.http.get('/api/v1/auth/oidc/providers').set(p.auth())).body.data).toEqual([]);
    expect((await p.http.delete('/api/v1/auth/users/u-nope').set(p.auth())).status).toBe(404);
    expect((await p.http.delete('/api/v1/auth/oidc/group-mappings/grm-nope').set(p.auth())).status).toBe(404);
    expect((await p.http.delete('/api/v1/auth/sessions/sess-nope').set(p.auth())).status).toBe(404);

    const created = await p.http.post('/api/v1/auth/oidc/providers').set(p.auth()).send({
      name: 'Test IdP', issuer_url: peer.issuer, client_id: peer.clientId, client_secret: peer.clientSecret,
      redirect_uri: `${base}/auth/oidc/callback`, post_logout_redirect_uri: `${base}/login`, scopes: ['openid', 'email', 'profile', 'groups'], allowed_email_domains: ['example.test'],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ has_client_secret: true, groups_claim_path: 'groups', iat_window_seconds: 300 });
    expect(created.body.client_secret).toBeUndefined();
    providerId = created.body.id;
    const { rows: [row] } = await p.db.query('SELECT client_secret_encrypted FROM oidc_providers WHERE id = $1', [providerId]);
    expect(row.client_secret_encrypted.includes(Buffer.from(peer.clientSecret))).toBe(false);

    const admins = await p.http.post('/api/v1/auth/oidc/group-mappings').set(p.auth()).send({ provider_id: providerId, group_name: ADMINS, role: 'admin' });
    expect(admins.status).toBe(201);
    adminMappingId = admins.body.id;
    expect((await p.http.post('/api/v1/auth/oidc/group-mappings').set(p.auth()).send({ provider_id: providerId, group_name: VIEWERS, role: 'viewer' })).status).toBe(201);
    expect((await p.http.post('/api/v1/auth/oidc/group-mappings').set(p.auth()).send({ provider_id: 'oidc-nope', group_name: 'x', role: 'viewer' })).status).toBe(400);
    expect((await p.http.post('/api/v1/auth/oidc/group-mappings').set(p.auth()).send({ provider_id: providerId, group_name: 'x', role: 'root' })).status).toBe(400);
    const info = await call('GET', '/api/v1/auth/info');
    expect(info.body.oidc_providers).toEqual([{ id: providerId, name: 'Test IdP', login_url: `/auth/oidc/login?provider=${providerId}` }]);
  }, 60_000);

  it('signs alice in through the provider\'s login page into the console, with an httpOnly SameSite=Lax session cookie', async () => {
    const context = await newContext();
    const page = await context.newPage();
    page.on('request', (r) => { if (r.url().startsWith(`${base}/auth/oidc/callback`)) replayableCallback = r.url(); });
    await page.goto(`${base}/`);
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).waitFor();
    const callback = await throughProvider(page, () => page.getByRole('link', { name: 'Sign in with Test IdP' }).click(), 'alice');
    expect(callback.status()).toBe(303);
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    alice = { context, page };

    const session = (await context.cookies(base)).find((c) => c.name === 'certctl_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    const me = await call('GET', '/api/v1/auth/me', { cookies: (await cookiesOf(context))! });
    expect(me.body).toMatchObject({ actor: 'alice@example.test', actor_type: 'User', role: 'admin' });
    const users = await p.http.get('/api/v1/auth/users').set(p.auth());
    expect(users.body.data).toEqual([expect.objectContaining({ oidc_subject: 'alice', email: 'alice@example.test', groups: [ADMINS, 'unmapped'] })]);
    const own = await call('GET', '/api/v1/auth/sessions', { cookies: (await cookiesOf(context))! });
    expect(own.body.data).toHaveLength(1);
  }, 90_000);

  it('requires the CSRF token on a cookie-authenticated change (403 without), and none with an API key', async () => {
    const cookies = (await cookiesOf(alice.context))!;
    const without = await call('POST', '/api/v1/teams', { cookies, body: { name: 'csrf-without' } });
    expect(without.status).toBe(403);
    expect(without.body.code).toBe('CSRF_TOKEN_INVALID');
    const wrong = await call('POST', '/api/v1/teams', { cookies: { ...cookies, csrf: cookies.session }, csrf: true, body: { name: 'csrf-wrong' } });
    expect(wrong.status).toBe(403);
    const { rows } = await p.db.query(`SELECT 1 FROM teams WHERE name IN ('csrf-without', 'csrf-wrong')`);
    expect(rows).toHaveLength(0);
    expect((await call('POST', '/api/v1/teams', { cookies, csrf: true, body: { name: 'csrf-with' } })).status).toBe(201);
    expect((await call('POST', '/api/v1/teams', { key: p.adminKey, body: { name: 'key-without-csrf' } })).status).toBe(201);
    // The console itself sends the token: a team created from the page with the session cookie.
    const viaConsole = await alice.page.evaluate(async () => {
      const csrf = /certctl_csrf=([^;]*)/.exec(document.cookie)?.[1] ?? '';
      const res = await fetch('/api/v1/teams', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': decodeURIComponent(csrf) }, body: JSON.stringify({ name: 'from-the-page' }) });
      return res.status;
    });
    expect(viaConsole).toBe(201);
  }, 30_000);

  it('refuses a replayed callback (its state was consumed) and opens no session', async () => {
    expect(replayableCallback).toBeDefined();
    const before = await liveSessions();
    const replay = await call('GET', new URL(replayableCallback!).pathname + new URL(replayableCallback!).search);
    expect(replay.status).toBe(400);
    expect(replay.body.code).toBe('OIDC_STATE_INVALID');
    expect(replay.headers.get('set-cookie') ?? '').not.toContain('certctl_session=');
    expect(await liveSessions()).toBe(before);
  }, 30_000);

  const refusals: Array<{ name: string; login: string; mutate?: OidcPeer['mutateIdToken']; code: string; message?: string }> = [
    { name: 'a tampered id_token (broken signature)', login: 'alice', mutate: 'tamper', code: 'OIDC_TOKEN_REFUSED' },
    { name: 'a wrong nonce', login: 'alice', mutate: (c) => ({ ...c, nonce: 'not-the-nonce-we-sent' }), code: 'OIDC_TOKEN_REFUSED' },
    { name: 'a foreign iss', login: 'alice', mutate: (c) => ({ ...c, iss: 'https://idp.attacker.example' }), code: 'OIDC_TOKEN_REFUSED' },
    { name: 'an expired id_token', login: 'alice', mutate: (c) => ({ ...c, iat: now() - 7200, exp: now() - 3600 }), code: 'OIDC_TOKEN_REFUSED' },
    { name: 'an iat outside the window', login: 'alice', mutate: (c) => ({ ...c, iat: now() - 1800 }), code: 'OIDC_TOKEN_REFUSED' },
    { name: 'an e-mail outside the allowed domains', login: 'carol', code: 'OIDC_EMAIL_DOMAIN_REFUSED', message: 'Your e-mail address is not in a domain allowed to sign in.' },
    { name: 'a groups claim of the wrong type', login: 'dave', code: 'OIDC_GROUPS_CLAIM_INVALID' },
    { name: 'no mapped group', login: 'erin', code: 'OIDC_NO_ROLE', message: 'None of your groups has access to certctl. Ask an administrator.' },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name}: no session, the console says why`, async () => {
      const before = await liveSessions();
      const context = await newContext();
      const page = await context.newPage();
      peer.mutateIdToken = refusal.mutate;
      try {
        const callback = await throughProvider(page, () => page.goto(`${base}/auth/oidc/login?provider=${providerId}`), refusal.login);
        // A browser is sent back to the console's sign-in page, which says why; no session cookie is set.
        expect(callback.status()).toBe(303);
        expect(await callback.headerValue('location')).toBe(`/login?sign_in_error=${refusal.code}`);
        expect(await callback.headerValue('set-cookie') ?? '').not.toContain('certctl_session=');
        await page.locator('#sign-in-error').waitFor();
        if (refusal.message) expect(await page.locator('#sign-in-error').textContent()).toBe(refusal.message);
        await page.getByLabel('API key').waitFor();
      } finally {
        peer.mutateIdToken = undefined;
      }
      expect(await cookiesOf(context)).toBeUndefined();
      expect(await liveSessions()).toBe(before);
      await p.flushAudit();
      const { rows } = await p.db.query(`SELECT details FROM audit_events WHERE action = 'user_sign_in_refused' ORDER BY timestamp DESC LIMIT 1`);
      expect(rows[0]?.details?.code).toBe(refusal.code);
    }, 60_000);
  }

  it('answers 401, never 500, to a malformed or unknown session cookie, on the API and the queue dashboard', async () => {
    for (const cookieHeader of ['certctl_session=%E0%A4%A', 'certctl_session=short', `certctl_session=${'A'.repeat(43)}`, 'certctl_session=']) {
      expect((await call('GET', '/api/v1/auth/me', { cookieHeader })).status, cookieHeader).toBe(401);
      expect((await call('POST', '/api/v1/teams', { cookieHeader, body: { name: 'x' } })).status, cookieHeader).toBe(401);
      expect((await call('GET', '/admin/queues/api/queues', { cookieHeader })).status, cookieHeader).toBe(401);
    }
    // A key in the header wins over a cookie (and needs no CSRF token).
    expect((await call('POST', '/api/v1/teams', { cookieHeader: 'certctl_session=short', key: p.adminKey, body: { name: 'key-beats-cookie' } })).status).toBe(201);
  }, 30_000);

  it('ends alice\'s console session when the provider sends a back-channel logout', async () => {
    const cookies = (await cookiesOf(alice.context))!;
    expect((await call('GET', '/api/v1/auth/me', { cookies })).status).toBe(200);
    await alice.page.goto(`${peer.issuer}/session/end`);
    await alice.page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await waitFor('the api to end the session after the provider\'s back-channel logout', async () => {
      if (peer.backChannelErrors.length) throw new Error(`the provider's back-channel logout failed: ${peer.backChannelErrors.join('; ')}`);
      return (await call('GET', '/api/v1/auth/me', { cookies })).status === 401;
    }, 10_000);
    const { rows } = await p.db.query(`SELECT revoked_reason FROM sessions WHERE user_id = (SELECT id FROM users WHERE oidc_subject = 'alice')`);
    expect(rows.map((r) => r.revoked_reason)).toEqual(['back-channel logout']);
  }, 60_000);

  it('verifies back-channel logout tokens: a replayed jti, a foreign key or a missing event is refused', async () => {
    const token = (claims: Record<string, unknown> = {}) => peer.signLogoutToken({
      iss: peer.issuer, aud: peer.clientId, iat: now(), jti: 'jti-once', sub: 'nobody', events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims,
    });
    const post = (logoutToken: string) => fetch(`${base}/auth/oidc/back-channel-logout`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: logoutToken }),
    });
    const first = await token();
    expect((await post(first)).status).toBe(200);
    const replay = await post(first);
    expect(replay.status).toBe(400);
    expect((await replay.json()).code).toBe('OIDC_LOGOUT_TOKEN_REPLAYED');
    expect((await post(await token({ jti: 'jti-no-event', events: {} }))).status).toBe(400);
    expect((await post(await token({ jti: 'jti-nonce', nonce: 'x' }))).status).toBe(400);
    expect((await post(await token({ jti: 'jti-aud', aud: 'someone-else' }))).status).toBe(400);
    const [h, b] = first.split('.');
    expect((await post(`${h}.${b}.${'A'.repeat(342)}`)).status).toBe(400);
    expect((await post('not-a-jwt')).status).toBe(400);
  }, 30_000);

  it('signs out from the console: the session ends and the browser goes to the provider\'s logout', async () => {
    const { page, cookies } = await signInFromConsole('alice');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${peer.issuer}/session/end`));
    expect((await call('GET', '/api/v1/auth/me', { cookies })).status).toBe(401);
  }, 60_000);

  it('ends bob\'s session within a second when an admin deactivates him; a viewer cannot change anything', async () => {
    const bob = await signInFromConsole('bob');
    expect((await call('GET', '/api/v1/auth/me', { cookies: bob.cookies })).body).toMatchObject({ role: 'viewer', actor: 'bob@example.test' });
    expect((await call('POST', '/api/v1/teams', { cookies: bob.cookies, csrf: true, body: { name: 'bob-team' } })).status).toBe(403);
    const { rows: [user] } = await p.db.query(`SELECT id FROM users WHERE oidc_subject = 'bob'`);
    const started = Date.now();
    expect((await p.http.delete(`/api/v1/auth/users/${user.id}`).set(p.auth())).status).toBe(204);
    expect((await call('GET', '/api/v1/auth/me', { cookies: bob.cookies })).status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
    // Signing in again is refused while deactivated.
    const again = await newContext();
    const page = await again.newPage();
    const callback = await throughProvider(page, () => page.goto(`${base}/auth/oidc/login?provider=${providerId}`), 'bob');
    expect(await callback.headerValue('location')).toBe('/login?sign_in_error=USER_DEACTIVATED');
    expect(await cookiesOf(again)).toBeUndefined();
  }, 90_000);

  it('ends every admin session, the queue dashboard\'s included, within a second of the group mapping being removed', async () => {
    const { cookies } = await signInFromConsole('alice');
    expect((await call('GET', '/admin/queues/api/queues', { cookies })).status).toBe(200);
    // A dashboard session opened from the console session (needs the CSRF token).
    expect((await call('POST', '/admin/queues/session', { cookies })).status).toBe(401);
    const opened = await call('POST', '/admin/queues/session', { cookies, csrf: true });
    expect(opened.status).toBe(204);
    const dashboardCookie = /certctl_queues_session=([^;]+)/.exec(opened.headers.get('set-cookie') ?? '')![1]!;
    expect((await call('GET', '/admin/queues/api/queues', { cookieHeader: `certctl_queues_session=${dashboardCookie}` })).status).toBe(200);

    const started = Date.now();
    expect((await p.http.delete(`/api/v1/auth/oidc/group-mappings/${adminMappingId}`).set(p.auth())).status).toBe(204);
    expect((await call('GET', '/api/v1/auth/me', { cookies })).status).toBe(401);
    expect((await call('GET', '/admin/queues/api/queues', { cookieHeader: `certctl_queues_session=${dashboardCookie}` })).status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
  }, 90_000);
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}
