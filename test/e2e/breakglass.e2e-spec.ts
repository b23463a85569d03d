import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { waitFor } from '../support/notifier-peers';

/**
 * The break-glass admin login, through the real api on its own database: scrypt-hashed password, lockout after
 * repeated failures (also for the right password while locked), every use and failure audited, a critical
 * BreakGlassLogin alert queued, and a console session (cookie + CSRF token) that ends with the credential.
 */
describe('break-glass login', () => {
  let p: ApiHarness;
  const password = 'correct horse battery staple 42';

  beforeAll(async () => {
    p = await startApi({ CERTCTL_BREAKGLASS_ENABLED: 'true', CERTCTL_BREAKGLASS_LOCKOUT_THRESHOLD: '3', CERTCTL_BREAKGLASS_LOCKOUT_DURATION: '1h' });
  });
  afterAll(async () => p?.close());

  const login = (username: string, pw: string) => p.http.post('/auth/breakglass/login').send({ username, password: pw });
  const sessionCookies = (res: { headers: Record<string, unknown> }) => {
    const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
    const session = cookies.find((c) => c.startsWith('certctl_session='));
    return { session: session?.split(';')[0], csrf: cookies.find((c) => c.startsWith('certctl_csrf='))?.split(';')[0]?.split('=')[1], raw: session };
  };

  it('creates a credential (admin only, 400 for a short password, 409 for a taken name) and never shows the hash', async () => {
    expect((await p.http.post('/api/v1/auth/breakglass/credentials').set(p.auth()).send({ username: 'emergency', password: 'short' })).status).toBe(400);
    expect((await p.http.post('/api/v1/auth/breakglass/credentials').send({ username: 'emergency', password })).status).toBe(401);
    const created = await p.http.post('/api/v1/auth/breakglass/credentials').set(p.auth()).send({ username: 'emergency', password });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'emergency', failed_attempts: 0 });
    expect(JSON.stringify(created.body)).not.toContain('scrypt');
    expect((await p.http.post('/api/v1/auth/breakglass/credentials').set(p.auth()).send({ username: 'emergency', password })).status).toBe(409);
    const { rows: [row] } = await p.db.query('SELECT password_hash FROM breakglass_credentials WHERE username = $1', ['emergency']);
    expect(row.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(row.password_hash).not.toContain(password);
  });

  it('signs in with the right password: an admin cookie session with a CSRF token, audited and alerted', async () => {
    const res = await login('emergency', password);
    expect(res.status).toBe(200);
    const { session, csrf, raw } = sessionCookies(res);
    expect(raw).toMatch(/HttpOnly/i);
    expect(raw).toMatch(/SameSite=Lax/i);
    const me = await p.http.get('/api/v1/auth/me').set('Cookie', session!);
    expect(me.body).toMatchObject({ role: 'admin', actor: 'breakglass:emergency', actor_type: 'User' });
    expect((await p.http.post('/api/v1/teams').set('Cookie', session!).send({ name: 'bg-no-csrf' })).status).toBe(403);
    expect((await p.http.post('/api/v1/teams').set('Cookie', session!).set('X-CSRF-Token', csrf!).send({ name: 'bg-team' })).status).toBe(201);
    await p.flushAudit();
    const { rows: audit } = await p.db.query(`SELECT actor FROM audit_events WHERE action = 'breakglass_login'`);
    expect(audit).toEqual([{ actor: 'breakglass:emergency' }]);
    // The call itself is recorded without a hash of its body (which holds the password).
    const { rows: calls } = await p.db.query(`SELECT details FROM audit_events WHERE action = 'api_post' AND resource_id IN ('/auth/breakglass/login', '/api/v1/auth/breakglass/credentials')`);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((c) => c.details.body_hash === null)).toBe(true);
    const { rows: alerts } = await p.db.query(`SELECT type, message, details FROM notification_events WHERE type = 'BreakGlassLogin'`);
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts[0].message).toContain('emergency');
    expect(alerts[0].details.severity).toBe('critical');
  });

  it('locks after 3 failures (the right password is refused while locked), until an admin unlocks it; an unknown name is a plain 401', async () => {
    expect((await login('nobody', password)).status).toBe(401);
    expect((await login('emergency', 'wrong password 1')).status).toBe(401);
    expect((await login('emergency', 'wrong password 2')).status).toBe(401);
    const third = await login('emergency', 'wrong password 3');
    expect(third.status).toBe(429);
    expect(third.body.code).toBe('BREAKGLASS_LOCKED');
    const locked = await login('emergency', password);
    expect(locked.status).toBe(429);
    expect(sessionCookies(locked).session).toBeUndefined();
    await p.flushAudit();
    const { rows } = await p.db.query(`SELECT action, count(*)::int AS n FROM audit_events WHERE action LIKE 'breakglass_login_%' GROUP BY action ORDER BY action`);
    expect(rows).toEqual([{ action: 'breakglass_login_failed', n: 3 }, { action: 'breakglass_login_locked', n: 2 }]);

    const { body } = await p.http.get('/api/v1/auth/breakglass/credentials').set(p.auth());
    const id = body.data[0].id;
    expect(body.data[0].locked_until).toBeDefined();
    expect((await p.http.post(`/api/v1/auth/breakglass/credentials/${id}/unlock`).set(p.auth())).status).toBe(204);
    expect((await p.http.post('/api/v1/auth/breakglass/credentials/bg-nope/unlock').set(p.auth())).status).toBe(404);
    expect((await login('emergency', password)).status).toBe(200);
  });

  it('ends the break-glass sessions when the credential is deleted; bad input is a 400', async () => {
    const { session } = sessionCookies(await login('emergency', password));
    expect((await p.http.get('/api/v1/auth/me').set('Cookie', session!)).status).toBe(200);
    const { body } = await p.http.get('/api/v1/auth/breakglass/credentials').set(p.auth());
    expect((await p.http.delete(`/api/v1/auth/breakglass/credentials/${body.data[0].id}`).set(p.auth())).status).toBe(204);
    expect((await p.http.get('/api/v1/auth/me').set('Cookie', session!)).status).toBe(401);
    expect((await p.http.post('/auth/breakglass/login').send({ username: 'emergency' })).status).toBe(400);
    expect((await p.http.post('/auth/breakglass/login').send({ username: ['x'], password })).status).toBe(400);
  });
});

describe('break-glass login, disabled', () => {
  it('answers 404 while CERTCTL_BREAKGLASS_ENABLED is off', async () => {
    const p = await startApi({ CERTCTL_BREAKGLASS_ENABLED: 'false' });
    try {
      const res = await p.http.post('/auth/breakglass/login').send({ username: 'emergency', password: 'correct horse battery staple 42' });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('BREAKGLASS_DISABLED');
    } finally {
      await p.close();
    }
  });
});

describe('console session expiry (through a break-glass session)', () => {
  async function sessionFor(p: ApiHarness): Promise<string> {
    const created = await p.http.post('/api/v1/auth/breakglass/credentials').set(p.auth()).send({ username: 'expiry', password: 'correct horse battery staple 42' });
    expect(created.status).toBe(201);
    const res = await p.http.post('/auth/breakglass/login').send({ username: 'expiry', password: 'correct horse battery staple 42' });
    return ((res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('certctl_session='))!).split(';')[0]!;
  }

  it('ends a session left unused for the idle timeout', async () => {
    const p = await startApi({ CERTCTL_BREAKGLASS_ENABLED: 'true', CERTCTL_SESSION_IDLE_TIMEOUT: '1s', CERTCTL_SESSION_ABSOLUTE_TIMEOUT: '1h' });
    try {
      const cookie = await sessionFor(p);
      expect((await p.http.get('/api/v1/auth/me').set('Cookie', cookie)).status).toBe(200);
      await waitFor('the idle session to end', async () => (await p.http.get('/api/v1/auth/me').set('Cookie', cookie)).status === 401, 10_000, 200);
      const { rows: [s] } = await p.db.query('SELECT created_at, idle_expires_at, revoked_at FROM sessions');
      expect(s.idle_expires_at.getTime() - s.created_at.getTime()).toBe(1000);
      expect(Date.now()).toBeGreaterThanOrEqual(s.idle_expires_at.getTime());
      expect(s.revoked_at).toBeNull();
    } finally {
      await p.close();
    }
  });

  it('ends a session at its absolute expiry even while it is in use', async () => {
    const p = await startApi({ CERTCTL_BREAKGLASS_ENABLED: 'true', CERTCTL_SESSION_IDLE_TIMEOUT: '1h', CERTCTL_SESSION_ABSOLUTE_TIMEOUT: '2s' });
    try {
      const cookie = await sessionFor(p);
      // Polled every 100 ms: always in use, so only the absolute limit can end it.
      await waitFor('the session to reach its absolute expiry', async () => (await p.http.get('/api/v1/auth/me').set('Cookie', cookie)).status === 401, 10_000, 100);
      const { rows: [s] } = await p.db.query('SELECT created_at, absolute_expires_at FROM sessions');
      expect(s.absolute_expires_at.getTime() - s.created_at.getTime()).toBe(2000);
      expect(Date.now()).toBeGreaterThanOrEqual(s.absolute_expires_at.getTime());
    } finally {
      await p.close();
    }
  });
});
