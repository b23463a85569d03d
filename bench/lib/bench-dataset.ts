import { Client } from 'pg';
import { runMigrations } from '@certctl/db';

/**
 * The benchmark inventory: a dedicated database, migrated with the real migrations, then filled with
 * set-based SQL (generate_series), so 100,000 certificates take seconds rather than minutes.
 * Values are pseudo-random but reproducible (setseed), and independent of each other: as in a real inventory
 * whose statuses lag behind, some certificates are still 'Active' although they expire within 30 days.
 */
export const DATASET = { teams: 20, owners: 500, issuers: 3, certificates: 100_000 } as const;

export interface DatasetInfo {
  database: string;
  reused: boolean;
  seed_seconds: number | null;
  rows: Record<string, number>;
  certificates_by_status: Record<string, number>;
}

/** `postgres://…/postgres` → the same server, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Makes `database` hold the benchmark inventory and returns what it holds. With `reuse`, an existing database
 * that already has every certificate is kept (only migrations added since are applied); otherwise it is dropped,
 * re-created, migrated and seeded.
 */
export async function prepareDataset(
  adminUrl: string, database: string, reuse: boolean, certificates: number = DATASET.certificates,
): Promise<DatasetInfo> {
  if (!Number.isInteger(certificates) || certificates < 1) throw new Error(`certificates must be a positive integer, got ${certificates}`);
  const url = withDatabase(adminUrl, database);
  const reused = reuse && (await certificateCount(adminUrl, database, url)) === certificates;
  let seedSeconds: number | null = null;
  if (reused) {
    await runMigrations({ url });
  } else {
    await freshDatabase(adminUrl, database);
    const started = process.hrtime.bigint();
    await withClient(url, (db) => seed(db, certificates));
    seedSeconds = Math.round(Number(process.hrtime.bigint() - started) / 1e6) / 1000;
  }
  return { database, reused, seed_seconds: seedSeconds, ...(await withClient(url, describe)) };
}

async function withClient<T>(url: string, work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url, application_name: 'certctl-bench' });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/** Certificates in an existing benchmark database, or undefined when the database or the table is missing. */
async function certificateCount(adminUrl: string, database: string, url: string): Promise<number | undefined> {
  const exists = await withClient(adminUrl, async (db) => (await db.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount);
  if (!exists) return undefined;
  return withClient(url, async (db) => {
    const table = await db.query(`SELECT to_regclass('public.managed_certificates') IS NOT NULL AS present`);
    if (!table.rows[0]?.present) return undefined;
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM managed_certificates');
    return Number(rows[0]?.n);
  });
}

/** Drops and re-creates `database` on the server of `adminUrl`, applies the real migrations, returns its URL. */
export async function freshDatabase(adminUrl: string, database: string): Promise<string> {
  await recreateDatabase(adminUrl, database);
  const url = withDatabase(adminUrl, database);
  await runMigrations({ url });
  return url;
}

async function recreateDatabase(adminUrl: string, database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`unsafe database name: ${database}`);
  await withClient(adminUrl, async (db) => {
    await db.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await db.query(`CREATE DATABASE ${database}`);
  });
}

/** The inventory alone, on an already migrated, empty database (the console's Chromium pass seeds its test database). */
export const seedCertificateInventory = (db: Client, certificates: number): Promise<void> => seed(db, certificates);

async function seed(db: Client, certificates: number): Promise<void> {
  await db.query('BEGIN');
  try {
    await db.query('SELECT setseed(0.4242)');
    for (const sql of [SEED_TEAMS, SEED_OWNERS, SEED_ISSUERS, seedCertificates(certificates), SEED_VERSIONS]) await db.query(sql);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK');
    throw err;
  }
  // Fresh statistics and an all-visible map, so plans and index-only scans are what production would see.
  await db.query('VACUUM ANALYZE');
}

async function describe(db: Client): Promise<Pick<DatasetInfo, 'rows' | 'certificates_by_status'>> {
  const tables = ['teams', 'owners', 'issuers', 'managed_certificates', 'certificate_versions'];
  const rows: Record<string, number> = {};
  for (const table of tables) rows[table] = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
  const status = await db.query<{ status: string; n: string }>(
    'SELECT status, count(*) AS n FROM managed_certificates GROUP BY status ORDER BY count(*) DESC',
  );
  return { rows, certificates_by_status: Object.fromEntries(status.rows.map((r) => [r.status, Number(r.n)])) };
}

const SEED_TEAMS = `
  INSERT INTO teams (id, name, description)
  SELECT 'team-bench-' || lpad(g::text, 2, '0'), 'Bench team ' || lpad(g::text, 2, '0'), 'benchmark fixture'
  FROM generate_series(1, ${DATASET.teams}) AS g`;

const SEED_OWNERS = `
  INSERT INTO owners (id, name, email, team_id)
  SELECT 'owner-bench-' || lpad(g::text, 3, '0'), 'Bench owner ' || lpad(g::text, 3, '0'), 'owner' || g || '@example.com',
         'team-bench-' || lpad((1 + (g - 1) % ${DATASET.teams})::text, 2, '0')
  FROM generate_series(1, ${DATASET.owners}) AS g`;

const SEED_ISSUERS = `
  INSERT INTO issuers (id, name, type, config) VALUES
    ('iss-bench-internal', 'Bench internal CA', 'GenericCA', '{"url":"https://ca.internal.example.com"}'),
    ('iss-bench-le', 'Bench Let''s Encrypt', 'ACME', '{"directory_url":"https://acme-v02.api.letsencrypt.org/directory"}'),
    ('iss-bench-zerossl', 'Bench ZeroSSL', 'ACME', '{"directory_url":"https://acme.zerossl.com/v2/DV90"}')`;

/**
 * One random draw per property, taken once per row in a MATERIALIZED CTE (so a draw used twice is the same).
 * The search_text trigger fills the search column as the rows go in.
 */
const seedCertificates = (certificates: number) => `
  WITH draw AS MATERIALIZED (
    SELECT g,
           'svc-' || g || '.' || (ARRAY['example.com', 'example.net', 'example.org'])[1 + g % 3] AS host,
           1 + floor(random() * ${DATASET.owners})::int AS owner_n,
           random() AS r_issuer, random() AS r_status, random() AS r_env, random() AS r_expires, random() AS r_created
    FROM generate_series(1, ${certificates}) AS g
  )
  INSERT INTO managed_certificates (id, name, common_name, sans, environment, owner_id, team_id, issuer_id,
                                    renewal_policy_id, status, expires_at, tags, source, created_at, updated_at)
  SELECT 'mc-bench-' || lpad(g::text, 6, '0'),
         host,
         host,
         (ARRAY[host, 'www.' || host, 'svc-' || g || '.internal.example.com'])[1:1 + g % 3],
         CASE WHEN r_env < 0.5 THEN 'prod' WHEN r_env < 0.75 THEN 'staging' ELSE 'dev' END,
         'owner-bench-' || lpad(owner_n::text, 3, '0'),
         'team-bench-' || lpad((1 + (owner_n - 1) % ${DATASET.teams})::text, 2, '0'),
         CASE WHEN r_issuer < 0.6 THEN 'iss-bench-internal' WHEN r_issuer < 0.9 THEN 'iss-bench-le' ELSE 'iss-bench-zerossl' END,
         'rp-default',
         CASE WHEN r_status < 0.80 THEN 'Active' WHEN r_status < 0.88 THEN 'Expiring' WHEN r_status < 0.93 THEN 'Expired'
              WHEN r_status < 0.97 THEN 'Pending' ELSE 'Failed' END,
         now() - interval '30 days' + r_expires * interval '430 days',
         jsonb_build_object('app', 'app-' || g % 250, 'managed_by', 'bench'),
         'bench',
         now() - r_created * interval '365 days',
         now() - r_created * interval '365 days'
  FROM draw`;

const SEED_VERSIONS = `
  INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256,
                                    pem_chain, key_algorithm, key_size, created_at)
  SELECT 'certver-bench-' || substr(c.id, 10),
         c.id,
         upper(substr(md5('serial:' || c.id), 1, 32)),
         c.expires_at - CASE WHEN c.issuer_id = 'iss-bench-internal' THEN interval '365 days' ELSE interval '90 days' END,
         c.expires_at,
         md5('fp1:' || c.id) || md5('fp2:' || c.id),
         E'-----BEGIN CERTIFICATE-----\\nMIIBbench' || md5(c.id) || E'\\n-----END CERTIFICATE-----\\n',
         'ECDSA',
         256,
         c.created_at
  FROM managed_certificates c`;
