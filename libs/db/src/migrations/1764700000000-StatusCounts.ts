import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Row counts by status kept incrementally, so the dashboard summary and the metrics scrape cost the same at a
 * million certificates as at a hundred. Every statement that inserts, updates or deletes certificates, jobs or
 * notification events adds its net change as delta rows (one per status, and for certificates per UTC day of
 * expiry); readers sum the deltas. Delta rows are only ever inserted, never updated, so concurrent writers do
 * not queue on a shared counter row; `compact_status_count_deltas()` folds them back into one row per key.
 * Counts that depend on the clock ("expires within 30 days") sum whole days from the deltas and count only
 * the partial boundary day from the table itself, through the expires_at index.
 */
export class StatusCounts1764700000000 implements MigrationInterface {
  name = 'StatusCounts1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE status_count_deltas (
        table_name text NOT NULL,
        status text NOT NULL,
        expiry_day date,
        n bigint NOT NULL
      );

      -- Certificates: per status and UTC day of expiry (NULL while a certificate has no expiry).
      CREATE FUNCTION certificate_status_count_deltas() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO status_count_deltas (table_name, status, expiry_day, n)
            SELECT TG_TABLE_NAME, status, (expires_at AT TIME ZONE 'UTC')::date, count(*) FROM new_rows GROUP BY 2, 3;
        ELSIF TG_OP = 'DELETE' THEN
          INSERT INTO status_count_deltas (table_name, status, expiry_day, n)
            SELECT TG_TABLE_NAME, status, (expires_at AT TIME ZONE 'UTC')::date, -count(*) FROM old_rows GROUP BY 2, 3;
        ELSE
          -- Most updates change neither status nor expiry: their +1 and -1 cancel and nothing is written.
          INSERT INTO status_count_deltas (table_name, status, expiry_day, n)
            SELECT TG_TABLE_NAME, status, day, sum(n) FROM (
              SELECT status, (expires_at AT TIME ZONE 'UTC')::date AS day, 1 AS n FROM new_rows
              UNION ALL
              SELECT status, (expires_at AT TIME ZONE 'UTC')::date, -1 FROM old_rows
            ) d GROUP BY 2, 3 HAVING sum(n) <> 0;
        END IF;
        RETURN NULL;
      END
      $fn$;

      -- Jobs and notification events: per status.
      CREATE FUNCTION status_count_deltas() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO status_count_deltas (table_name, status, n)
            SELECT TG_TABLE_NAME, status, count(*) FROM new_rows GROUP BY 2;
        ELSIF TG_OP = 'DELETE' THEN
          INSERT INTO status_count_deltas (table_name, status, n)
            SELECT TG_TABLE_NAME, status, -count(*) FROM old_rows GROUP BY 2;
        ELSE
          INSERT INTO status_count_deltas (table_name, status, n)
            SELECT TG_TABLE_NAME, status, sum(n) FROM (
              SELECT status, 1 AS n FROM new_rows UNION ALL SELECT status, -1 FROM old_rows
            ) d GROUP BY 2 HAVING sum(n) <> 0;
        END IF;
        RETURN NULL;
      END
      $fn$;

      CREATE FUNCTION status_count_deltas_truncated() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        DELETE FROM status_count_deltas WHERE table_name = TG_TABLE_NAME;
        RETURN NULL;
      END
      $fn$;

      -- Folds the delta rows into one per key. Safe beside writers and beside another compaction: the DELETE
      -- removes only rows its snapshot sees, and re-inserts exactly their sums.
      CREATE FUNCTION compact_status_count_deltas() RETURNS void LANGUAGE sql AS $fn$
        WITH gone AS (DELETE FROM status_count_deltas RETURNING table_name, status, expiry_day, n)
        INSERT INTO status_count_deltas (table_name, status, expiry_day, n)
          SELECT table_name, status, expiry_day, sum(n) FROM gone GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
      $fn$;
    `);

    for (const [table, fn] of [['managed_certificates', 'certificate_status_count_deltas'], ['jobs', 'status_count_deltas'], ['notification_events', 'status_count_deltas']] as const) {
      await q.query(`
        LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE;
        CREATE TRIGGER trg_${table}_count_insert AFTER INSERT ON ${table}
          REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
        CREATE TRIGGER trg_${table}_count_update AFTER UPDATE ON ${table}
          REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
        CREATE TRIGGER trg_${table}_count_delete AFTER DELETE ON ${table}
          REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
        CREATE TRIGGER trg_${table}_count_truncate AFTER TRUNCATE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION status_count_deltas_truncated();
      `);
    }
    // The rows that exist already (the tables are locked against writers until this migration commits).
    await q.query(`
      INSERT INTO status_count_deltas (table_name, status, expiry_day, n)
        SELECT 'managed_certificates', status, (expires_at AT TIME ZONE 'UTC')::date, count(*) FROM managed_certificates GROUP BY 2, 3;
      INSERT INTO status_count_deltas (table_name, status, n) SELECT 'jobs', status, count(*) FROM jobs GROUP BY 2;
      INSERT INTO status_count_deltas (table_name, status, n) SELECT 'notification_events', status, count(*) FROM notification_events GROUP BY 2;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['managed_certificates', 'jobs', 'notification_events']) {
      for (const op of ['insert', 'update', 'delete', 'truncate']) await q.query(`DROP TRIGGER trg_${table}_count_${op} ON ${table}`);
    }
    await q.query(`
      DROP FUNCTION compact_status_count_deltas();
      DROP FUNCTION status_count_deltas_truncated();
      DROP FUNCTION status_count_deltas();
      DROP FUNCTION certificate_status_count_deltas();
      DROP TABLE status_count_deltas;
    `);
  }
}
