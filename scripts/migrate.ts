import 'reflect-metadata';
import { loadConfig } from '@certctl/config';
import { runMigrations } from '@certctl/db';
import { runMain } from '@certctl/observability';

/** `npm run migrate`: applies pending migrations to CERTCTL_DATABASE_URL (the compose/k8s migrate job runs this). */
runMain(async () => {
  const config = loadConfig(process.env, 'migrate');
  const applied = await runMigrations({ url: config.database.url });
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
});
