import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { ResponderModule } from './responder.module';

/** The responder app (not listening). No body parser: the OCSP controller reads its DER body itself. */
export async function createResponderApp(): Promise<INestApplication> {
  const app = await NestFactory.create(ResponderModule, { bufferLogs: true, bodyParser: false, abortOnError: false });
  app.useLogger(app.get(Logger));
  const express = app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void; disable(name: string): void };
  express.set('etag', false);
  express.disable('x-powered-by');
  return app;
}
