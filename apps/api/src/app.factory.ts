import { INestApplication, RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Response } from 'express';
import { APP_CONFIG, AppConfig, loadConfig } from '@certctl/config';
import { installOcspFastPath, limitPublicServer } from '@certctl/issuers';
import { bootLogger, PinoNestLogger, requestIdOf } from '@certctl/observability';
import { ApiModule } from './api.module';
import { jsonBodyMiddleware } from './common/http/json-body.middleware';
import type { ApiRequest } from './common/http/request';
import { withResponseSchemas } from './common/openapi/response-schemas';
import { findWebConsoleDir, webConsoleMiddleware } from './modules/web-console/web-console.middleware';
import { BROWSER_AUTH_ROUTES } from './modules/identity/browser-auth.controller';

export const API_PREFIX = 'api/v1';

/** What stays outside /api/v1; the OpenAPI script uses the same, so the committed document is the served one. */
export const GLOBAL_PREFIX_OPTIONS = {
  exclude: [
    { path: 'health', method: RequestMethod.GET },
    { path: 'ready', method: RequestMethod.GET },
    { path: 'metrics', method: RequestMethod.GET },
    // CRL and OCSP live where certctl's clients look for them, outside /api/v1.
    { path: '.well-known/pki/*path', method: RequestMethod.ALL },
    // The browser sign-in flows live at /auth/* as certctl has them (identity/browser-auth.controller.ts).
    ...BROWSER_AUTH_ROUTES.map(({ path, method }) => ({ path, method: RequestMethod[method] })),
  ],
};

/** Builds the api app (not listening): request ids, the JSON body limit, the /api/v1 prefix, OpenAPI. */
export async function createApiApp(): Promise<INestApplication> {
  const logger = bootLogger(loadConfig(process.env, 'api'));
  const app = await NestFactory.create<NestExpressApplication>(ApiModule, { logger, bodyParser: false, abortOnError: false });
  app.useLogger(app.get(PinoNestLogger));
  app.set('etag', false);
  app.disable('x-powered-by');
  const config = app.get<AppConfig>(APP_CONFIG);
  // X-Forwarded-For / X-Forwarded-Proto count only when the peer is one of CERTCTL_TRUSTED_PROXIES: then req.ip is
  // the client's address (sessions, rate limits) and req.secure says whether the browser spoke TLS (Secure cookies).
  app.set('trust proxy', config.server.trustedProxies.length ? config.server.trustedProxies : false);

  // The request id is assigned before anything else, so even a body-parser error carries it.
  app.use((req: ApiRequest, res: Response, next: NextFunction) => {
    req.id = requestIdOf(req);
    res.setHeader('x-request-id', req.id);
    next();
  });
  // The web console (dist/web) at /, before the API's routes; it never answers the API's own paths.
  const webDir = findWebConsoleDir();
  if (webDir) app.use(webConsoleMiddleware(webDir));
  else app.get(PinoNestLogger).warn('web console not built (no dist/web/index.html): run `npm run build` to serve it at /');
  const jsonBody = jsonBodyMiddleware(config.server.maxBodyBytes);
  // The CRL/OCSP surfaces take DER, never JSON: a JSON body there is a wrong content type (415), not bad JSON.
  app.use((req: ApiRequest, res: Response, next: NextFunction) => (req.path.startsWith('/.well-known/pki/') ? next() : jsonBody(req, res, next)));
  app.setGlobalPrefix(API_PREFIX, GLOBAL_PREFIX_OPTIONS);
  // Built now, before init, as `npm run openapi` builds it: the route table Nest completes at init changes how
  // Swagger reads the prefix exclusions (the /.well-known/pki routes would be listed under /api/v1).
  SwaggerModule.setup('api/docs', app, buildOpenApiDocument(app), { jsonDocumentUrl: 'api/docs/openapi.json' });

  if (config.auth.type === 'none') {
    app.get(PinoNestLogger).warn(
      'CERTCTL_AUTH_TYPE=none: AUTHENTICATION IS OFF. Every caller is an admin. Use this only for a local demo.',
    );
  }
  // OCSP requests from the fleet are answered ahead of Express (the api origin serves them as certctl's does).
  installOcspFastPath(app);
  limitPublicServer(app, { capConnectionsPerClient: false });
  return app;
}

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setTitle('certctl API')
    .setDescription('TLS certificate lifecycle platform — certctl v1 dialect')
    .setVersion('1')
    .setOpenAPIVersion('3.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key' })
    .build();
  return withResponseSchemas(withoutTrailingSlashes(SwaggerModule.createDocument(app, builder)));
}

/**
 * A route declared with an optional trailing slash (`metrics{/}`, see CertctlMetricsController) is listed by
 * Swagger with the slash; clients call it without, as certctl documents it.
 */
function withoutTrailingSlashes(document: OpenAPIObject): OpenAPIObject {
  document.paths = Object.fromEntries(Object.entries(document.paths).map(([path, item]) => [path.length > 1 ? path.replace(/\/$/, '') : path, item]));
  return document;
}
