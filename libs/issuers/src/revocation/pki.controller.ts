import { Controller, Get, HttpException, HttpStatus, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { PublicRoute } from '@certctl/observability';
import { crlToPem } from '@certctl/pki';
import { MAX_CRL_SHARDS } from '../issuer-config';
import { CrlService, crlEtag } from './crl.service';
import { isOcspRequestType } from './ocsp-fast-path';
import { OcspAnswer, OcspService } from './ocsp.service';
import { RevocationAuthorityError } from './revocation-authorities';

const CRL_CACHE_CONTROL = 'public, max-age=3600, must-revalidate';

/**
 * The public, unauthenticated revocation surfaces (certctl §9): the CRL of each Local CA issuer and its OCSP
 * responder. Served by the api (certctl's clients expect them on its origin) and by apps/responder alike.
 */
@PublicRoute()
@Controller('.well-known/pki')
export class PkiController {
  constructor(private readonly crl: CrlService, private readonly ocsp: OcspService) {}

  /** DER (`application/pkix-crl`), or PEM with ?format=pem; weak ETag, 304 on If-None-Match. The issuer's full CRL. */
  @Get('crl/:issuerId')
  async getCrl(@Param('issuerId') issuerId: string, @Query('format') format: string | undefined, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.serveCrl(issuerId, undefined, format, req, res);
  }

  /**
   * One shard of a sharded issuer's CRL (issuer config crl_shards > 1): the serials of the leaves whose CRL
   * Distribution Point is this URL, with an Issuing Distribution Point naming it. 404 for a shard the issuer never had.
   */
  @Get('crl/:issuerId/:shard')
  async getCrlShard(
    @Param('issuerId') issuerId: string, @Param('shard') shard: string, @Query('format') format: string | undefined, @Req() req: Request, @Res() res: Response,
  ): Promise<void> {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(shard) || Number(shard) >= MAX_CRL_SHARDS) throw invalid('shard', `must be a whole number from 0 to ${MAX_CRL_SHARDS - 1}`);
    await this.serveCrl(issuerId, Number(shard), format, req, res);
  }

  private async serveCrl(issuerId: string, shard: number | undefined, format: string | undefined, req: Request, res: Response): Promise<void> {
    if (await this.crl.limited(clientOf(req))) {
      res.setHeader('Retry-After', '60');
      throw new HttpException({ code: 'RATE_LIMITED', message: 'too many CRL requests from this address; retry in a minute' }, HttpStatus.TOO_MANY_REQUESTS);
    }
    if (format !== undefined && format !== 'der' && format !== 'pem') throw invalid('format', 'must be der or pem');
    let crl;
    try {
      crl = await this.crl.current(issuerId, shard);
    } catch (err) {
      throw translate(err);
    }
    const etag = crlEtag(crl.crl_der) + (format === 'pem' ? '-pem' : '');
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', CRL_CACHE_CONTROL);
    res.setHeader('Last-Modified', new Date(crl.this_update).toUTCString());
    res.setHeader('Expires', new Date(crl.next_update).toUTCString());
    const wanted = req.headers['if-none-match'];
    if (typeof wanted === 'string' && wanted.split(',').map((t) => t.trim()).includes(etag)) {
      await this.crl.count('not_modified');
      res.status(304).end();
      return;
    }
    await this.crl.count('served');
    if (format === 'pem') {
      res.type('application/x-pem-file').send(crlToPem(crl.crl_der));
      return;
    }
    res.type('application/pkix-crl').send(crl.crl_der);
  }

  /** RFC 6960 POST: the DER OCSPRequest as the body (`application/ocsp-request`, else 415). */
  @Post('ocsp/:issuerId')
  async postOcsp(@Param('issuerId') issuerId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    if (!isOcspRequestType(req)) {
      await Promise.all([this.ocsp.count('request_post'), this.ocsp.count('request_invalid')]);
      throw new HttpException({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/ocsp-request' }, HttpStatus.UNSUPPORTED_MEDIA_TYPE);
    }
    let body: Buffer;
    try {
      body = await readBody(req, this.ocsp.maxRequestBytes, this.ocsp.bodyTimeoutMs);
    } catch (err) {
      await Promise.all([this.ocsp.count('request_post'), this.ocsp.count('request_invalid')]);
      throw err;
    }
    send(res, await this.ocsp.answer({ issuerId, method: 'POST', request: body, client: clientOf(req) }));
  }

  /**
   * GET /{issuer_id}/{serial_hex} (certctl's form) or GET /{issuer_id}/{base64 OCSPRequest} (RFC 5019 §5, the
   * request DER in base64, URL-encoded; it may contain '/'). The responder and the api usually answer these in
   * OcspFastPath, ahead of Express; this route documents them and serves any app without the fast path.
   */
  @Get('ocsp/:issuerId/*encoded')
  async getOcsp(@Param('issuerId') issuerId: string, @Param('encoded') encoded: string | string[], @Req() req: Request, @Res() res: Response): Promise<void> {
    send(res, await this.ocsp.answerGet(issuerId, Array.isArray(encoded) ? encoded.join('/') : encoded, clientOf(req)));
  }
}

function send(res: Response, answer: OcspAnswer): void {
  res.status(answer.httpStatus);
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.end(answer.body);
}

function clientOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

function invalid(field: string, message: string): HttpException {
  return new HttpException({ code: 'VALIDATION_FAILED', message: `${field}: ${message}` }, HttpStatus.BAD_REQUEST);
}

function translate(err: unknown): unknown {
  if (!(err instanceof RevocationAuthorityError)) return err;
  if (err.kind === 'shard_not_found') return new HttpException({ code: 'CRL_SHARD_NOT_FOUND', message: err.message }, HttpStatus.NOT_FOUND);
  return err.kind === 'issuer_not_found'
    ? new HttpException({ code: 'ISSUER_NOT_FOUND', message: err.message }, HttpStatus.NOT_FOUND)
    : new HttpException({ code: 'NOT_IMPLEMENTED', message: err.message }, HttpStatus.NOT_IMPLEMENTED);
}

/** The raw body, refused with 413 past `limit` bytes (without reading the rest into memory); closed after `timeoutMs`. */
function readBody(req: Request, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.socket.destroy();
      reject(new HttpException({ code: 'REQUEST_TIMEOUT', message: `OCSP request body not received within ${timeoutMs} ms` }, HttpStatus.REQUEST_TIMEOUT));
    }, timeoutMs).unref();
    req.on('close', () => clearTimeout(timer));
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        clearTimeout(timer);
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function tooLarge(limit: number): HttpException {
  return new HttpException({ code: 'PAYLOAD_TOO_LARGE', message: `OCSP request body is larger than ${limit} bytes` }, HttpStatus.PAYLOAD_TOO_LARGE);
}
