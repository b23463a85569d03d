import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../../common/auth/access.decorator';
import type { Principal } from '../../common/auth/principal';
import { cookieValue, SessionsService } from '../../common/auth/sessions.service';
import { ApiError } from '../../common/http/api-error';
import { CurrentPrincipal } from '../../common/http/request';
import { BreakglassService } from './breakglass.service';
import { BreakglassLoginDto } from './dto/identity.dto';
import { OidcSignInService } from './oidc-sign-in.service';
import { AUTHENTICATED, RequirePermission } from '../../common/auth/permission.decorator';

/** Binds a sign-in in progress to the browser that started it (httpOnly, only sent to the callback). */
const LOGIN_BINDING_COOKIE = 'certctl_oidc_login';
const LOGIN_BINDING_PATH = '/auth/oidc';
const MAX_FORM_BYTES = 32 * 1024;

/** The browser routes, outside /api/v1 where certctl has them (app.factory excludes them from the prefix). */
export const BROWSER_AUTH_ROUTES = [
  { path: 'auth/oidc/login', method: 'GET' },
  { path: 'auth/oidc/callback', method: 'GET' },
  { path: 'auth/oidc/back-channel-logout', method: 'POST' },
  { path: 'auth/logout', method: 'POST' },
  { path: 'auth/breakglass/login', method: 'POST' },
] as const;

/**
 * Browser sign-in: GET /auth/oidc/login?provider=<id> sends the browser to the provider; the provider sends it back
 * to /auth/oidc/callback, which sets the session cookie and goes to the console. POST /auth/logout ends the
 * session (CSRF token required, like any cookie-authenticated change) and names the provider's logout page; the
 * provider calls POST /auth/oidc/back-channel-logout when the person signs out there.
 */
@ApiExcludeController()
@Controller('auth')
export class BrowserAuthController {
  constructor(
    private readonly signIn: OidcSignInService,
    private readonly breakglass: BreakglassService,
    private readonly sessions: SessionsService,
  ) {}

  /** The local admin login for when the provider is down (off unless CERTCTL_BREAKGLASS_ENABLED): sets the same session cookies. */
  @Post('breakglass/login')
  @Public()
  @HttpCode(200)
  async breakglassLogin(@Body() body: BreakglassLoginDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<{ status: 'authenticated'; csrf_token: string }> {
    res.setHeader('Cache-Control', 'no-store');
    const created = await this.breakglass.login(body.username, body.password, {
      ip: req.ip, userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined,
    });
    this.sessions.setCookies(req, res, created);
    return { status: 'authenticated', csrf_token: created.csrf };
  }

  @Get('oidc/login')
  @Public()
  async login(@Query('provider') provider: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    if (typeof provider !== 'string' || !provider) throw ApiError.invalidField('provider', 'is required');
    const { url, binding } = await this.signIn.start(provider);
    res.cookie(LOGIN_BINDING_COOKIE, binding, { httpOnly: true, secure: req.secure, sameSite: 'lax', path: LOGIN_BINDING_PATH, maxAge: 600_000 });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, url);
  }

  @Get('oidc/callback')
  @Public()
  async callback(@Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    res.clearCookie(LOGIN_BINDING_COOKIE, { httpOnly: true, secure: req.secure, sameSite: 'lax', path: LOGIN_BINDING_PATH });
    res.setHeader('Cache-Control', 'no-store');
    let signedIn: Awaited<ReturnType<OidcSignInService['complete']>>;
    try {
      signedIn = await this.signIn.complete(query, cookieValue(req.headers.cookie, LOGIN_BINDING_COOKIE), {
        ip: req.ip, userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined,
      });
    } catch (err) {
      // A browser goes back to the console's sign-in page, which says why (by code; the reason is in the audit trail).
      if (err instanceof ApiError && req.accepts(['json', 'html']) === 'html') return res.redirect(303, `/login?sign_in_error=${encodeURIComponent(err.code)}`);
      throw err;
    }
    this.sessions.setCookies(req, res, signedIn);
    res.redirect(303, '/');
  }

  /** The provider's server-to-server call: a form with logout_token. 200 when verified (even if no session matched). */
  @Post('oidc/back-channel-logout')
  @Public()
  @HttpCode(200)
  async backChannelLogout(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<{ sessions_ended: number }> {
    res.setHeader('Cache-Control', 'no-store');
    const form = await readForm(req);
    return { sessions_ended: await this.signIn.backChannelLogout(form.get('logout_token') ?? undefined) };
  }

  /** RP-initiated logout: ends this session, clears the cookies, and gives the provider's logout URL to go to. */
  @Post('logout')
  @HttpCode(200)
  @RequirePermission(AUTHENTICATED)
  async logout(@CurrentPrincipal() p: Principal, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<{ redirect_to?: string }> {
    const result = await this.signIn.logout(p);
    this.sessions.clearCookies(req, res);
    return result;
  }
}

/** An application/x-www-form-urlencoded body (the JSON parser leaves other types unread). */
async function readForm(req: Request): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'the back-channel logout takes application/x-www-form-urlencoded');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `the body exceeds ${MAX_FORM_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
