import 'reflect-metadata';
import { loadConfig } from '@certctl/config';
import { runMigrations } from '@certctl/db';
import { runMain } from '@certctl/observability';

/**
 * `npm run migrate`: applies pending migrations as the schema owner, CERTCTL_MIGRATE_DATABASE_URL (default:
 * CERTCTL_DATABASE_URL). The compose/k8s migrate job runs this; only it holds the owner's credentials.
 */
runMain(async () => {
  const config = loadConfig(process.env, 'migrate');
  const applied = await runMigrations({ url: config.database.migrateUrl });
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
});
