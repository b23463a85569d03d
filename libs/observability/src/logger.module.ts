import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module } from '@nestjs/common';
import { LoggerModule as PinoLoggerModule } from 'nestjs-pino';
import { APP_CONFIG, AppConfig } from '@certctl/config';

/** Paths pino blanks out: credentials, tokens and PEM private keys are never logged (STYLE C11). */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.privateKey',
  '*.private_key',
  '*.key_pem',
  '*.pem',
  '*.password',
  '*.token',
  '*.secret',
  '*.api_key',
];

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id of a call: the caller's `x-request-id` when it is sane, otherwise a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
  return id;
}

@Module({
  imports: [
    PinoLoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.log.level,
          name: config.serviceName,
          redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
          genReqId: (req: IncomingMessage, res: ServerResponse) => {
            const id = requestIdOf(req);
            res.setHeader('x-request-id', id);
            return id;
          },
          customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) =>
            err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
          autoLogging: { ignore: (req: IncomingMessage) => ['/health', '/ready', '/metrics'].includes(req.url ?? '') },
          transport: config.log.format === 'pretty' ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
        },
      }),
    }),
  ],
})
export class LoggerModule {}
