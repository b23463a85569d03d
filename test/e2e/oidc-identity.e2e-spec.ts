import type { Browser, BrowserContext, Page, Response as PageResponse } from 'playwright-core';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { SessionCleanupService } from '../../apps/orchestrator/src/modules/scheduler/session-cleanup.service';
import { ApiHarness } from '../support/api-harness';
import { keyWithRole } from '../support/fixtures';
import { OidcConsole, chromiumSuite, startOidcConsole } from '../support/oidc-console';
import { OidcPeer } from '../support/oidc-provider-peer';

/**
 * People behind OpenID sessions, against the real provider (oidc-provider) in Chromium: every change made with
 * the session cookie names the user, e-mail, provider and session in the audit trail (GET /audit and the console's
 * audit page; a key's change names the key); the provider rotates its signing key and sign-in goes on (the JWKS is
 * read again on the unknown kid), while an id_token under a kid the provider never published is refused even
 * after that read; ended sessions and spent back-channel jtis are cleaned up by the orchestrator's job.
 */
const { missing, suite } = chromiumSuite('oidc-identity.e2e');

suite('OpenID identity: audit names the person, JWKS rotation, session cleanup', () => {
  let oidc: OidcConsole | undefined;
  let p: ApiHarness;
  let peer: OidcPeer;
  let browser: Browser;
  let base: string;
  let providerId: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    oidc = await startOidcConsole({
      missing,
      users: {
        alice: { email: 'alice@example.test', groups: ['admins'] },
        bob: { email: 'bob@example.test', groups: ['admins'] },
        carol: { email: 'carol@example.test', groups: ['admins'] },
      },
      env: {
        CERTCTL_CONFIG_ENCRYPTION_KEY: 'oidc-identity-config-encryption-key-0123456789',
        CERTCTL_SESSION_RETENTION: '1h',
      },
    });
    ({ p, peer, browser, base } = oidc);
    const created = await p.http.post('/api/v1/auth/oidc/providers').set(p.auth()).send({
      name: 'Test IdP', issuer_url: peer.issuer, client_id: peer.clientId, client_secret: peer.clientSecret,
      redirect_uri: `${base}/auth/oidc/callback`, scopes: ['openid', 'email', 'profile', 'groups'],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    providerId = created.body.id;
    await p.http.post('/api/v1/auth/oidc/group-mappings').set(p.auth()).send({ provider_id: providerId, group_name: 'admins', role: 'admin' }).expect(201);
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await oidc?.close();
  });

  /** Signs `login` in through the provider's own pages in a fresh context; resolves with the callback's answer. */
  async function signIn(login: string): Promise<{ page: Page; callback: PageResponse; cookies?: { session: string; csrf: string } }> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const callback = page.waitForResponse((r) => r.url().startsWith(`${base}/auth/oidc/callback`), { timeout: 30_000 });
    await page.goto(`${base}/auth/oidc/login?provider=${providerId}`);
    await page.waitForURL((url) => url.href.startsWith(peer.issuer));
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    const answer = await callback;
    const all = await context.cookies(base);
    const session = all.find((c) => c.name === 'certctl_session')?.value;
    const csrf = all.find((c) => c.name === 'certctl_csrf')?.value;
    return { page, callback: answer, cookies: session && csrf ? { session, csrf } : undefined };
  }

  const withCookie = (cookies: { session: string; csrf: string }) => ({ Cookie: `certctl_session=${cookies.session}`, 'X-CSRF-Token': cookies.csrf });

  it('audits a change made through a cookie session with the person (user, e-mail, provider, session), in GET /audit and on the console\'s audit page', async () => {
    const alice = await signIn('alice');
    expect(alice.callback.status()).toBe(303);
    const team = await p.http.post('/api/v1/teams').set(withCookie(alice.cookies!)).send({ name: 'alice-team' }).expect(201);
    const { rows: [user] } = await p.db.query(`SELECT id FROM users WHERE email = 'alice@example.test'`);
    const { rows: [session] } = await p.db.query(`SELECT id FROM sessions WHERE user_id = $1`, [user.id]);
    await p.flushAudit();

    const audit = await p.http.get('/api/v1/audit').query({ resource_id: team.body.id }).set(p.auth()).expect(200);
    const created = (audit.body.data as Array<Record<string, any>>).find((e) => e.action === 'create_team');
    expect(created).toMatchObject({
      actor: 'alice@example.test', actor_type: 'User',
      details: { identity: { user_id: user.id, email: 'alice@example.test', provider_id: providerId, session_id: session.id } },
    });
    const { rows: calls } = await p.db.query(`SELECT details FROM audit_events WHERE action = 'api_post' AND resource_id = '/api/v1/teams' AND actor = 'alice@example.test'`);
    expect(calls.map((c) => c.details.identity)).toEqual([{ user_id: user.id, email: 'alice@example.test', provider_id: providerId, session_id: session.id }]);

    // A key's change names the key (id and name).
    const operator = await keyWithRole(p, 'operator');
    const keyTeam = await p.http.post('/api/v1/teams').set(p.auth(operator)).send({ name: 'key-team' }).expect(201);
    const { rows: [keyRow] } = await p.db.query(`SELECT id, name FROM api_keys WHERE role = 'operator'`);
    const { rows: [keyEvent] } = await p.db.query(`SELECT details FROM audit_events WHERE action = 'create_team' AND resource_id = $1`, [keyTeam.body.id]);
    expect(keyEvent.details.identity).toEqual({ key_id: keyRow.id, key_name: keyRow.name });

    // The console's audit page shows who, under the actor.
    await alice.page.goto(`${base}/audit?resource_id=${encodeURIComponent(team.body.id)}`);
    const identity = alice.page.getByTestId('audit-identity').first();
    await identity.waitFor();
    expect(await identity.textContent()).toBe(`alice@example.test · user ${user.id} · via ${providerId} · session ${session.id}`);
  }, 90_000);

  it('keeps signing people in after the provider rotates its key (JWKS read again on the new kid); a kid it never published is refused', async () => {
    // A first sign-in has the provider's current key set cached.
    expect((await signIn('bob')).callback.status()).toBe(303);
    const readsBefore = peer.jwksRequests;
    await peer.rotateSigningKey();
    expect(peer.signingKid).toBe('test-key-2');
    const rotated = await signIn('carol');
    expect(rotated.callback.status()).toBe(303);
    expect(rotated.cookies).toBeDefined();
    expect((await p.http.get('/api/v1/auth/me').set('Cookie', `certctl_session=${rotated.cookies!.session}`)).body).toMatchObject({ actor: 'carol@example.test' });
    expect(peer.jwksRequests).toBe(readsBefore + 1);

    // Signed by a key nobody published: the keys are read once more, the kid is still unknown, no session.
    peer.mutateIdToken = 'unknown-kid';
    try {
      const sessionsBefore = (await p.db.query('SELECT count(*)::int AS n FROM sessions')).rows[0].n;
      const refused = await signIn('carol');
      expect(refused.callback.status()).toBe(303);
      expect(refused.callback.headers().location).toBe('/login?sign_in_error=OIDC_TOKEN_REFUSED');
      expect(refused.cookies).toBeUndefined();
      expect((await p.db.query('SELECT count(*)::int AS n FROM sessions')).rows[0].n).toBe(sessionsBefore);
      expect(peer.jwksRequests).toBe(readsBefore + 2);
      await p.flushAudit();
      const { rows } = await p.db.query(`SELECT details FROM audit_events WHERE action = 'user_sign_in_refused' ORDER BY seq DESC LIMIT 1`);
      expect(rows[0].details.reason).toContain('id_token signature');
    } finally {
      peer.mutateIdToken = undefined;
    }
  }, 120_000);

  it('the cleanup job deletes sessions ended longer ago than the retention, and back-channel jtis past their window, nothing else', async () => {
    const { rows: live } = await p.db.query('SELECT id, user_id FROM sessions WHERE revoked_at IS NULL ORDER BY created_at');
    expect(live.length).toBeGreaterThanOrEqual(3);
    const [revokedLongAgo, expiredLongAgo, revokedRecently] = live.map((r) => r.id as string);
    await p.db.query(`UPDATE sessions SET revoked_at = now() - interval '2 hours', revoked_reason = 'signed out' WHERE id = $1`, [revokedLongAgo]);
    await p.db.query(`UPDATE sessions SET idle_expires_at = now() - interval '3 hours', absolute_expires_at = now() - interval '2 hours' WHERE id = $1`, [expiredLongAgo]);
    await p.db.query(`UPDATE sessions SET revoked_at = now() - interval '5 minutes', revoked_reason = 'signed out' WHERE id = $1`, [revokedRecently]);
    await p.db.query(
      `INSERT INTO oidc_bcl_consumed_jtis (provider_id, jti, expires_at) VALUES ($1, 'spent', now() - interval '1 minute'), ($1, 'still-replayable', now() + interval '10 minutes')`,
      [providerId],
    );
    const cleanup = new SessionCleanupService(p.app.get(DataSource), p.app.get<AppConfig>(APP_CONFIG));
    expect(await cleanup.cleanup()).toEqual({ sessionsDeleted: 2, jtisDeleted: 1 });
    const { rows: left } = await p.db.query('SELECT id FROM sessions');
    expect(left.map((r) => r.id)).toEqual(expect.arrayContaining([revokedRecently]));
    expect(left.map((r) => r.id)).not.toContain(revokedLongAgo);
    expect(left.map((r) => r.id)).not.toContain(expiredLongAgo);
    expect((await p.db.query('SELECT jti FROM oidc_bcl_consumed_jtis')).rows).toEqual([{ jti: 'still-replayable' }]);
    expect(await cleanup.cleanup()).toEqual({ sessionsDeleted: 0, jtisDeleted: 0 });
  });
});
