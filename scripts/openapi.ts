import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { ApiModule } from '../apps/api/src/api.module';
import { API_PREFIX, buildOpenApiDocument, GLOBAL_PREFIX_OPTIONS } from '../apps/api/src/app.factory';

/**
 * `npm run openapi`: writes docs/openapi.json from the code, without a database: the document needs only the
 * controllers and DTOs, so the api module is built in preview mode (no provider is instantiated).
 */
async function main(): Promise<void> {
  const app = await NestFactory.create(ApiModule, { preview: true, logger: false, abortOnError: false });
  app.setGlobalPrefix(API_PREFIX, GLOBAL_PREFIX_OPTIONS);
  const document = buildOpenApiDocument(app);
  const out = resolve(process.argv[2] ?? 'docs/openapi.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`);
  process.stdout.write(`wrote ${out} (${Object.keys(document.paths).length} paths)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
