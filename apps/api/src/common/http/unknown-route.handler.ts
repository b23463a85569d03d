import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Application, RequestHandler } from 'express';
import { sendError } from './exception.filter';

/**
 * Nest answers unknown paths under /api/v1 itself (through the exception filter); anything else would fall
 * through to Express's HTML "Cannot GET". This handler is appended after every route, once the app has booted,
 * so every unknown route answers in the API's JSON error shape.
 */
@Injectable()
export class UnknownRouteHandler implements OnApplicationBootstrap {
  constructor(private readonly host: HttpAdapterHost) {}

  onApplicationBootstrap(): void {
    const express = this.host.httpAdapter?.getInstance<Application>();
    if (!express || typeof express.use !== 'function') return; // preview mode (OpenAPI generation): no HTTP server
    const notFound: RequestHandler = (req, res) => {
      sendError(res, 404, 'NOT_FOUND', `Cannot ${req.method} ${req.path}`, String((req as { id?: string }).id ?? ''));
    };
    express.use(notFound);
  }
}
