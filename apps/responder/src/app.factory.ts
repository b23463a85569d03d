import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@certctl/config';
import { bootLogger, PinoNestLogger } from '@certctl/observability';
import { installOcspFastPath, limitPublicServer } from '@certctl/issuers';
import { ResponderModule } from './responder.module';

/**
 * The responder app (not listening). No body parser: the OCSP routes read their DER bodies themselves, most of
 * them in the fast path ahead of Express.
 */
export async function createResponderApp(): Promise<INestApplication> {
  const logger = bootLogger(loadConfig(process.env, 'responder'));
  const app = await NestFactory.create(ResponderModule, { logger, bodyParser: false, abortOnError: false });
  app.useLogger(app.get(PinoNestLogger));
  const express = app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void; disable(name: string): void };
  express.set('etag', false);
  express.disable('x-powered-by');
  installOcspFastPath(app);
  limitPublicServer(app, { capConnectionsPerClient: true });
  return app;
}
