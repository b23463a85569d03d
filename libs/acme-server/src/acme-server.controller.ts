import { Controller, Get, Head, Inject, Logger, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AcmeMetrics, AcmeOp } from './acme-metrics';
import { AcmeAnswer, AcmeContext, AcmeServerService } from './acme-server.service';
import { AcmeProblem } from './problem';

/** Every route exists twice: under /acme/profile/{profileId}/ and, for CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID, under /acme/. */
const both = (path: string): string[] => [`profile/:profileId/${path}`, path];

class BodyTooLarge extends Error {}

/**
 * The ACME server's HTTP surface (RFC 8555 §7.1): reads the JWS body itself (the responder has no body parser)
 * up to CERTCTL_ACME_SERVER_MAX_BODY_BYTES, answers every request with a fresh Replay-Nonce, and every error as an
 * application/problem+json document, never a bare 500. What needs no account (directory, new-nonce, renewal-info,
 * and requests signed by a `jwk`) counts against the client address (CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN).
 */
@Controller('acme')
export class AcmeServerController {
  private readonly logger = new Logger(AcmeServerController.name);

  constructor(
    private readonly acme: AcmeServerService,
    private readonly metrics: AcmeMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get(both('directory'))
  directory(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('directory', req, res, false, async (ctx) => (await this.acme.limitPublicRequest(ctx), this.acme.directory(ctx)));
  }

  @Head(both('new-nonce'))
  headNonce(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('new_nonce', req, res, false, async (ctx) => (await this.newNonce(ctx), { status: 200 }));
  }

  @Get(both('new-nonce'))
  getNonce(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('new_nonce', req, res, false, async (ctx) => (await this.newNonce(ctx), { status: 204 }));
  }

  /** The nonce itself is added to every answer by run(); new-nonce only counts the client and checks the profile exists. */
  private async newNonce(ctx: AcmeContext): Promise<void> {
    await this.acme.limitPublicRequest(ctx);
    await this.acme.assertProfileServed(ctx.profileId);
  }

  @Post(both('new-account'))
  newAccount(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('new_account', req, res, true, (ctx, body) => this.acme.newAccount(ctx, body));
  }

  @Post(both('account/:id'))
  account(@Req() req: Request, @Res() res: Response, @Param('id') id: string): Promise<void> {
    return this.run('update_account', req, res, true, (ctx, body) => this.acme.account(ctx, id, body));
  }

  @Post(both('account/:id/orders'))
  accountOrders(@Req() req: Request, @Res() res: Response, @Param('id') id: string): Promise<void> {
    return this.run('order_read', req, res, true, (ctx, body) => this.acme.accountOrders(ctx, id, body));
  }

  @Post(both('key-change'))
  keyChange(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('key_change', req, res, true, (ctx, body) => this.acme.keyChange(ctx, body));
  }

  @Post(both('new-order'))
  newOrder(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('new_order', req, res, true, (ctx, body) => this.acme.newOrder(ctx, body));
  }

  @Post(both('order/:id'))
  order(@Req() req: Request, @Res() res: Response, @Param('id') id: string): Promise<void> {
    return this.run('order_read', req, res, true, (ctx, body) => this.acme.order(ctx, id, body));
  }

  @Post(both('order/:id/finalize'))
  finalize(@Req() req: Request, @Res() res: Response, @Param('id') id: string): Promise<void> {
    return this.run('finalize_order', req, res, true, (ctx, body) => this.acme.finalize(ctx, id, body));
  }

  @Post(both('authz/:id'))
  authz(@Req() req: Request, @Res() res: Response, @Param('id') id: string): Promise<void> {
    return this.run('authz_read', req, res, true, (ctx, body) => this.acme.authz(ctx, id, body));
  }

  @Post(both('challenge/:id'))
  challenge(@Req() req: Request, @Res() res: Response, @Param('id') id: string): Promise<void> {
    return this.run('challenge_respond', req, res, true, (ctx, body) => this.acme.challenge(ctx, id, body));
  }

  @Post(both('cert/:id'))
  certificate(@Req() req: Request, @Res() res: Response, @Param('id') id: string): Promise<void> {
    return this.run('cert_download', req, res, true, (ctx, body) => this.acme.certificate(ctx, id, body));
  }

  @Post(both('cert/:id/:chain'))
  alternateChain(@Req() req: Request, @Res() res: Response, @Param('id') id: string, @Param('chain') chain: string): Promise<void> {
    return this.run('cert_download', req, res, true, (ctx, body) => this.acme.certificate(ctx, id, body, chain));
  }

  @Post(both('revoke-cert'))
  revokeCert(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('revoke_cert', req, res, true, (ctx, body) => this.acme.revokeCert(ctx, body));
  }

  @Get(both('renewal-info/:certId'))
  renewalInfo(@Req() req: Request, @Res() res: Response, @Param('certId') certId: string): Promise<void> {
    return this.run('renewal_info', req, res, false, async (ctx) => (await this.acme.limitPublicRequest(ctx), this.acme.renewalInfo(ctx, certId)));
  }

  private context(req: Request): AcmeContext {
    const explicit = (req.params as Record<string, string | undefined>).profileId;
    const profileId = explicit ?? this.config.acmeServer.defaultProfileId;
    if (!profileId) throw AcmeProblem.notFound('ACME directory (no default profile is configured; use /acme/profile/{id}/directory)');
    const origin = this.config.acmeServer.baseUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    return {
      origin,
      prefix: explicit !== undefined ? `/acme/profile/${encodeURIComponent(explicit)}` : '/acme',
      profileId,
      url: `${origin}${req.originalUrl}`,
      clientIp: req.ip ?? req.socket.remoteAddress ?? 'unknown',
    };
  }

  private async run(op: AcmeOp, req: Request, res: Response, post: boolean, handler: (ctx: AcmeContext, body: Buffer) => Promise<AcmeAnswer>): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    let answer: AcmeAnswer;
    let ok = true;
    let ctx: AcmeContext | undefined;
    try {
      if (!this.config.acmeServer.enabled) throw AcmeProblem.notFound('ACME server (CERTCTL_ACME_SERVER_ENABLED is off)');
      ctx = this.context(req);
      let body: Buffer = Buffer.alloc(0);
      if (post) {
        const type = (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/jose+json') throw new AcmeProblem('malformed', 'Content-Type must be application/jose+json', { status: 415 });
        body = await this.readBody(req);
      }
      answer = await handler(ctx, body);
    } catch (err) {
      ok = false;
      const problem = err instanceof AcmeProblem ? err
        : err instanceof BodyTooLarge ? new AcmeProblem('malformed', `the request body exceeds ${this.config.acmeServer.maxBodyBytes} bytes`, { status: 413 })
          : undefined;
      if (!problem) {
        this.logger.error({ err: (err as Error).message, stack: (err as Error).stack, op }, 'ACME request failed');
        answer = { status: 500, body: new AcmeProblem('serverInternal', 'the server could not complete the request').toDocument(), contentType: 'application/problem+json' };
      } else {
        answer = { status: problem.status, body: problem.toDocument(), contentType: 'application/problem+json', headers: problem.headers };
      }
      if (err instanceof BodyTooLarge) res.setHeader('Connection', 'close');
    }
    this.metrics.count(op, ok);
    // Every answer carries a fresh nonce (RFC 8555 §6.5), a badNonce one included, so the client can retry at once;
    // issuing one writes nothing (see NonceStore).
    if (this.config.acmeServer.enabled) res.setHeader('Replay-Nonce', this.acme.nonces.issue());
    if (ctx) res.setHeader('Link', `<${ctx.origin}${ctx.prefix}/directory>;rel="index"`);
    for (const [name, value] of Object.entries(answer.headers ?? {})) {
      if (name === 'Link' && ctx) res.append('Link', value);
      else res.setHeader(name, value);
    }
    res.status(answer.status);
    if (answer.body === undefined) {
      res.end();
    } else if (typeof answer.body === 'string') {
      res.type(answer.contentType ?? 'text/plain').send(answer.body);
    } else {
      res.setHeader('Content-Type', answer.contentType ?? 'application/json');
      res.send(JSON.stringify(answer.body));
    }
  }

  /** The body, refused past the limit as soon as the Content-Length or the bytes received say so. */
  private async readBody(req: Request): Promise<Buffer> {
    const limit = this.config.acmeServer.maxBodyBytes;
    if (Number(req.get('content-length') ?? 0) > limit) throw new BodyTooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new BodyTooLarge();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
}
