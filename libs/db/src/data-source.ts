import { DataSource, DataSourceOptions } from 'typeorm';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

export interface DatabaseOptions {
  url: string;
  maxConns?: number;
  /** Names the connection in pg_stat_activity. */
  applicationName?: string;
}

/** The one TypeORM configuration: migrations only, never synchronize (STYLE C8). */
export function dataSourceOptions(db: DatabaseOptions): DataSourceOptions {
  return {
    type: 'postgres',
    url: db.url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    migrationsRun: false,
    // Constraint violations are expected answers (409/400), not noise; unexpected errors are logged by the apps.
    logging: false,
    extra: { max: db.maxConns ?? 10, application_name: db.applicationName ?? 'certctl' },
  };
}

/** Applies every pending migration in one transaction; returns the names applied. */
export async function runMigrations(db: DatabaseOptions): Promise<string[]> {
  const ds = new DataSource(dataSourceOptions({ ...db, maxConns: 1 }));
  await ds.initialize();
  try {
    const applied = await ds.runMigrations({ transaction: 'all' });
    return applied.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

/** True when the database has every migration this build knows. */
export async function migrationsApplied(ds: DataSource): Promise<boolean> {
  const rows: Array<{ name: string }> = await ds.query(`SELECT name FROM typeorm_migrations`).catch(() => []);
  const applied = new Set(rows.map((r) => r.name));
  return MIGRATIONS.every((m) => applied.has(m.name));
}
