import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { Principal } from '../auth/principal';

export type ApiRequest = Request & { id?: string; principal?: Principal; bodySha256?: string };

/** Who is calling: the principal the auth guard attached to the request. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  const req = ctx.switchToHttp().getRequest<ApiRequest>();
  if (!req.principal) throw new Error('CurrentPrincipal used on a route without authentication');
  return req.principal;
});

/** The request id, carried into jobs as correlationId. */
export const RequestId = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => {
  return String(ctx.switchToHttp().getRequest<ApiRequest>().id ?? '');
});
