import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import { decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { newId, REDIS } from '@certctl/db';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { changedRows, SessionsService } from '../../common/auth/sessions.service';
import { ApiError } from '../../common/http/api-error';
import { JwksCache } from './jwks-cache';
import { OidcProvidersService, OidcProviderView } from './oidc-providers.service';

/** A sign-in in progress lives this long (certctl: 10 minutes), and is consumed by its first callback. */
const PRE_LOGIN_TTL_SECONDS = 600;
/** An id_token issued a little in the future (clock skew between us and the provider) is still accepted. */
const FUTURE_IAT_TOLERANCE_SECONDS = 60;
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token (anyone can post one) makes us read a provider's JWKS again on an unknown kid at most this often. */
const LOGOUT_JWKS_REFETCH_COOLDOWN_MS = 30_000;

interface PreLogin {
  provider_id: string;
  code_verifier: string;
  nonce: string;
  /** SHA-256 of the browser-binding cookie, so a callback only completes in the browser that started it. */
  binding: string;
}

export interface SignedIn {
  token: string;
  csrf: string;
  user_id: string;
}

/**
 * The OpenID Connect relying party: authorization code with PKCE (openid-client), the state, nonce and verifier
 * kept in Redis for ten minutes and consumed once, every id_token check openid-client makes (signature against
 * the provider's JWKS, iss, aud, exp, nonce) plus the iat window and the allowed e-mail domains, the groups claim
 * mapped to a role, then a server-side session. Back-channel logout tokens are verified and their jti consumed once.
 */
@Injectable()
export class OidcSignInService {
  private readonly logger = new Logger(OidcSignInService.name);
  private readonly jwks = new JwksCache();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly providers: OidcProvidersService,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
  ) {}

  /** Starts a sign-in: the provider's authorization URL, and the browser-binding value to set as a cookie. */
  async start(providerId: string): Promise<{ url: string; binding: string }> {
    if (this.config.auth.type !== 'oidc') throw ApiError.conflict('OIDC_DISABLED', 'OpenID sign-in is off (CERTCTL_AUTH_TYPE is not oidc)');
    const { provider, config } = await this.providers.client(providerId);
    if (!provider.enabled) throw ApiError.notFound('oidc provider', providerId);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const binding = randomBytes(32).toString('base64url');
    const pending: PreLogin = { provider_id: provider.id, code_verifier: codeVerifier, nonce, binding: sha256(binding) };
    await this.redis.set(this.preLoginKey(state), JSON.stringify(pending), 'EX', PRE_LOGIN_TTL_SECONDS);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: provider.redirect_uri,
      scope: provider.scopes.join(' '),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, binding };
  }

  /**
   * Completes a sign-in from the provider's redirect. Every refusal is a 4xx and leaves no session; the reason is
   * audited (never a token).
   */
  async complete(query: Record<string, unknown>, binding: string | undefined, meta: { ip?: string; userAgent?: string }): Promise<SignedIn> {
    const state = typeof query.state === 'string' ? query.state : undefined;
    if (!state || state.length > 512) throw ApiError.invalidField('state', 'is missing');
    // GETDEL: a state is good for one callback, whatever happens next (a replayed callback finds nothing).
    const stored = await this.redis.getdel(this.preLoginKey(state));
    if (!stored) throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_STATE_INVALID', 'unknown, expired or already used sign-in state');
    const pending = JSON.parse(stored) as PreLogin;
    if (!binding || !safeEqual(sha256(binding), pending.binding)) {
      throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_STATE_INVALID', 'this sign-in was started in another browser');
    }
    const { provider, config } = await this.providers.client(pending.provider_id);
    try {
      if (typeof query.error === 'string') throw refusal(HttpStatus.FORBIDDEN, 'OIDC_PROVIDER_REFUSED', `the provider refused the sign-in: ${query.error.slice(0, 100)}`);
      const callbackUrl = new URL(provider.redirect_uri);
      for (const [key, value] of Object.entries(query)) if (typeof value === 'string') callbackUrl.searchParams.set(key, value);
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: pending.code_verifier, expectedState: state, expectedNonce: pending.nonce, idTokenExpected: true,
        });
      } catch (err) {
        throw refusal(HttpStatus.UNAUTHORIZED, 'OIDC_TOKEN_REFUSED', `the provider's answer was refused: ${safeReason(err)}`);
      }
      await this.verifyIdTokenSignature(provider.id, config, tokens.id_token!);
      const claims = tokens.claims()!;
      this.checkIssuedAt(provider, claims.iat);
      const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined;
      this.checkEmailDomain(provider, email, claims.email_verified);
      let groupSource: Record<string, unknown> = claims;
      if (provider.fetch_userinfo) {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        groupSource = { ...claims, ...info };
      }
      const groups = groupsOf(groupSource, provider.groups_claim_path);
      // A role through one of the groups, or granted to this user directly (a returning user), not expired.
      const granted: unknown[] = await this.dataSource.query(
        `SELECT 1 FROM group_role_mappings WHERE provider_id = $1 AND group_name = ANY($2) AND (expires_at IS NULL OR expires_at > now())
         UNION ALL
         SELECT 1 FROM users u JOIN actor_roles ar ON ar.actor_type = 'User' AND ar.actor_id = u.id AND (ar.expires_at IS NULL OR ar.expires_at > now())
          WHERE u.oidc_provider_id = $1 AND u.oidc_subject = $3
         LIMIT 1`, [provider.id, groups, claims.sub],
      );
      if (!granted.length) {
        throw refusal(HttpStatus.FORBIDDEN, 'OIDC_NO_ROLE', 'none of your groups is mapped to a role in certctl; ask an administrator');
      }
      const user = await this.upsertUser(provider, claims, email, groups);
      if (user.deactivated_at) throw refusal(HttpStatus.FORBIDDEN, 'USER_DEACTIVATED', 'this user has been deactivated by an administrator');
      const sid = typeof claims.sid === 'string' ? claims.sid : undefined;
      const created = await this.sessions.create(user.id, { providerSid: sid, idTokenHint: tokens.id_token, ...meta });
      await this.audit.record({
        actor: { actor: email ?? claims.sub, actor_type: 'User' },
        action: 'user_signed_in', resource_type: 'session', resource_id: created.id, event_category: 'auth',
        details: { provider_id: provider.id, user_id: user.id, email, groups },
      });
      return { token: created.token, csrf: created.csrf, user_id: user.id };
    } catch (err) {
      if (err instanceof ApiError) {
        this.audit.recordInBackground({
          actor: { actor: 'anonymous', actor_type: 'Anonymous' }, action: 'user_sign_in_refused', resource_type: 'oidc_provider',
          resource_id: provider.id, event_category: 'auth', details: { code: err.code, reason: err.message.slice(0, 300) },
        });
      }
      throw err;
    }
  }

  /** RP-initiated logout: ends the session and says where to send the browser (the provider's end_session_endpoint). */
  async logout(principal: Principal): Promise<{ redirect_to?: string }> {
    if (!principal.session_id) return {};
    const hint = await this.sessions.idTokenHint(principal.session_id);
    await this.sessions.revokeWhere('id = $1', [principal.session_id], 'signed out');
    await this.audit.record({ actor: principal, action: 'user_signed_out', resource_type: 'session', resource_id: principal.session_id, event_category: 'auth' });
    const rows: Array<{ oidc_provider_id: string }> = await this.dataSource.query('SELECT oidc_provider_id FROM users WHERE id = $1', [principal.user_id]);
    if (!rows[0]) return {};
    try {
      const { provider, config } = await this.providers.client(rows[0].oidc_provider_id);
      if (!config.serverMetadata().end_session_endpoint) return {};
      const params: Record<string, string> = { client_id: provider.client_id };
      if (hint) params.id_token_hint = hint;
      if (provider.post_logout_redirect_uri) params.post_logout_redirect_uri = provider.post_logout_redirect_uri;
      return { redirect_to: oidc.buildEndSessionUrl(config, params).href };
    } catch (err) {
      this.logger.warn({ err: safeReason(err) }, 'provider logout URL unavailable; the local session is ended all the same');
      return {};
    }
  }

  /**
   * Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider posts a signed logout_token; it
   * must verify against that provider's keys, name us as audience, carry the logout event, no nonce, a sid or sub,
   * and a jti not seen before. The matching sessions end at once.
   */
  async backChannelLogout(logoutToken: string | undefined): Promise<number> {
    if (!logoutToken || logoutToken.length > 16_384) throw ApiError.invalidField('logout_token', 'is missing');
    const { provider, config } = await this.providers.client(await this.providerOfLogoutToken(logoutToken));
    const metadata = config.serverMetadata();
    if (!metadata.jwks_uri) throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_LOGOUT_TOKEN_INVALID', 'the provider publishes no jwks_uri');
    let payload: Record<string, unknown>;
    try {
      const verified = await jwtVerify(logoutToken, (...args) => this.jwks.key(provider.id, metadata.jwks_uri!, args, { refetchCooldownMs: LOGOUT_JWKS_REFETCH_COOLDOWN_MS }), {
        issuer: metadata.issuer,
        audience: provider.client_id,
        maxTokenAge: `${provider.iat_window_seconds}s`,
        clockTolerance: FUTURE_IAT_TOLERANCE_SECONDS,
      });
      payload = verified.payload as Record<string, unknown>;
    } catch (err) {
      throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_LOGOUT_TOKEN_INVALID', `logout_token refused: ${safeReason(err)}`);
    }
    const events = payload.events as Record<string, unknown> | undefined;
    const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    const problem = !events || typeof events !== 'object' || !(BACKCHANNEL_LOGOUT_EVENT in events) ? 'no back-channel logout event'
      : 'nonce' in payload ? 'a logout_token must not carry a nonce'
        : !sid && !sub ? 'neither sid nor sub'
          : typeof payload.jti !== 'string' ? 'no jti' : undefined;
    if (problem) throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_LOGOUT_TOKEN_INVALID', `logout_token refused: ${problem}`);
    const expiresAt = new Date(((payload.iat as number) + provider.iat_window_seconds + 600) * 1000);
    const inserted: unknown[] = await this.dataSource.query(
      'INSERT INTO oidc_bcl_consumed_jtis (provider_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING jti',
      [provider.id, payload.jti, expiresAt],
    );
    if (!inserted.length) throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_LOGOUT_TOKEN_REPLAYED', 'logout_token refused: its jti was already used');
    const ended = await this.sessions.revokeWhere(
      `user_id IN (SELECT id FROM users WHERE oidc_provider_id = $1 AND ($3::text IS NULL OR oidc_subject = $3)) AND ($2::text IS NULL OR provider_sid = $2)`,
      [provider.id, sid ?? null, sub ?? null], 'back-channel logout',
    );
    await this.audit.record({
      actor: { actor: `oidc:${provider.id}`, actor_type: 'System' }, action: 'oidc_back_channel_logout', resource_type: 'oidc_provider',
      resource_id: provider.id, event_category: 'auth', details: { sid, sub, sessions_ended: ended.length },
    });
    return ended.length;
  }

  /**
   * Which provider sent a logout token: the one whose issuer and client id its (not yet verified) iss and aud
   * name. The token is then verified against that provider's keys, so naming another provider gains nothing.
   */
  private async providerOfLogoutToken(token: string): Promise<string> {
    let claims: { iss?: unknown; aud?: unknown };
    try {
      claims = decodeJwt(token);
    } catch {
      throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_LOGOUT_TOKEN_INVALID', 'logout_token is not a JWT');
    }
    const audiences = (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).filter((a): a is string => typeof a === 'string');
    const issuer = typeof claims.iss === 'string' ? claims.iss.replace(/\/+$/, '') : '';
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `SELECT id FROM oidc_providers WHERE rtrim(issuer_url, '/') = $1 AND client_id = ANY($2) ORDER BY id LIMIT 1`, [issuer, audiences],
    );
    if (!rows[0]) throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_LOGOUT_TOKEN_INVALID', 'logout_token refused: no provider with that issuer and audience');
    return rows[0].id;
  }

  // ---- users

  listUsers(): Promise<unknown[]> {
    return this.dataSource.query(
      `SELECT id, oidc_provider_id, oidc_subject, email, display_name, groups, last_login_at, deactivated_at, created_at FROM users ORDER BY created_at, id`,
    );
  }

  /** Deactivates a user and ends every session of theirs (their next request is a 401). */
  async deactivateUser(actor: Principal, id: string): Promise<void> {
    const rows = changedRows(await this.dataSource.query('UPDATE users SET deactivated_at = COALESCE(deactivated_at, now()) WHERE id = $1 RETURNING id', [id]));
    if (!rows.length) throw ApiError.notFound('user', id);
    const ended = await this.sessions.revokeWhere('user_id = $1', [id], 'user deactivated');
    await this.audit.record({ actor, action: 'user_deactivated', resource_type: 'user', resource_id: id, event_category: 'auth', details: { sessions_ended: ended.length } });
  }

  async reactivateUser(actor: Principal, id: string): Promise<void> {
    const rows = changedRows(await this.dataSource.query('UPDATE users SET deactivated_at = NULL WHERE id = $1 RETURNING id', [id]));
    if (!rows.length) throw ApiError.notFound('user', id);
    await this.audit.record({ actor, action: 'user_reactivated', resource_type: 'user', resource_id: id, event_category: 'auth' });
  }

  // ---- internals

  private preLoginKey(state: string): string {
    return `${this.config.redis.queuePrefix}:oidc-pre-login:${sha256(state)}`;
  }

  private checkIssuedAt(provider: OidcProviderView, iat: number | undefined): void {
    const now = Math.floor(Date.now() / 1000);
    if (typeof iat !== 'number' || iat < now - provider.iat_window_seconds || iat > now + FUTURE_IAT_TOLERANCE_SECONDS) {
      throw refusal(HttpStatus.UNAUTHORIZED, 'OIDC_TOKEN_REFUSED', `the id_token's iat is outside the ${provider.iat_window_seconds}s window`);
    }
  }

  private checkEmailDomain(provider: OidcProviderView, email: string | undefined, verified: unknown): void {
    if (!provider.allowed_email_domains.length) return;
    const domain = email?.split('@').pop();
    if (!email || verified === false || !domain || !provider.allowed_email_domains.includes(domain)) {
      throw refusal(HttpStatus.FORBIDDEN, 'OIDC_EMAIL_DOMAIN_REFUSED', `the e-mail ${email ?? '(none)'} is not in a domain allowed to sign in`);
    }
  }

  private async upsertUser(provider: OidcProviderView, claims: oidc.IDToken, email: string | undefined, groups: string[]): Promise<{ id: string; deactivated_at: Date | null }> {
    const name = typeof claims.name === 'string' ? claims.name.slice(0, 255) : null;
    const rows: Array<{ id: string; deactivated_at: Date | null }> = await this.dataSource.query(
      `INSERT INTO users (id, oidc_provider_id, oidc_subject, email, display_name, groups, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (oidc_provider_id, oidc_subject) DO UPDATE SET email = EXCLUDED.email, display_name = EXCLUDED.display_name, groups = EXCLUDED.groups,
         last_login_at = CASE WHEN users.deactivated_at IS NULL THEN now() ELSE users.last_login_at END
       RETURNING id, deactivated_at`,
      [newId('user'), provider.id, claims.sub, email ?? null, name, groups],
    );
    return rows[0]!;
  }

  /**
   * openid-client checked the id_token's claims (iss, aud, exp, nonce); its signature is checked here against the
   * provider's JWKS, read again when the token names a kid we have not seen (the provider rotated its key). A
   * token from the token endpoint cannot be forged by a third party, so every unknown kid earns one fresh read.
   */
  private async verifyIdTokenSignature(providerId: string, config: oidc.Configuration, idToken: string): Promise<void> {
    const jwksUri = config.serverMetadata().jwks_uri;
    try {
      if (!jwksUri) throw new Error('the provider publishes no jwks_uri');
      await jwtVerify(idToken, (...args) => this.jwks.key(providerId, jwksUri, args, { refetchCooldownMs: 0 }), { clockTolerance: FUTURE_IAT_TOLERANCE_SECONDS });
    } catch (err) {
      throw refusal(HttpStatus.UNAUTHORIZED, 'OIDC_TOKEN_REFUSED', `the provider's answer was refused: id_token signature: ${safeReason(err)}`);
    }
  }
}

/** The groups named by a dotted claim path: an array of strings, or one string; anything else is a 400. */
export function groupsOf(claims: Record<string, unknown>, path: string): string[] {
  let value: unknown = claims;
  for (const part of path.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw refusal(HttpStatus.BAD_REQUEST, 'OIDC_GROUPS_CLAIM_INVALID', `the ${path} claim must be a string or an array of strings`);
}

function refusal(status: HttpStatus, code: string, message: string): ApiError {
  return new ApiError(status, code, message);
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function safeEqual(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** A library error's message without any token in it (messages name claims, never carry JWTs). */
function safeReason(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '<jwt>').slice(0, 200);
}
