import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { ApiModule } from '../apps/api/src/api.module';
import { API_PREFIX, GLOBAL_PREFIX_OPTIONS } from '../apps/api/src/app.factory';
import { renderPermissionsDoc } from '../apps/api/src/common/auth/permissions-doc';
import { routeTable } from '../apps/api/src/common/auth/route-table';

/** `npm run docs:permissions`: writes docs/permissions.md from the routes' metadata (preview app, no database). */
async function main(): Promise<void> {
  const app = await NestFactory.create(ApiModule, { preview: true, logger: false, abortOnError: false });
  const routes = routeTable(app, { prefix: API_PREFIX, exclude: GLOBAL_PREFIX_OPTIONS.exclude });
  const undeclared = routes.filter((r) => !r.requirement);
  const out = resolve(process.argv[2] ?? 'docs/permissions.md');
  writeFileSync(out, renderPermissionsDoc(routes));
  process.stdout.write(`wrote ${out} (${routes.length} routes)\n`);
  if (undeclared.length) {
    process.stderr.write(`routes without a permission:\n${undeclared.map((r) => `  ${r.method} ${r.path}`).join('\n')}\n`);
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
