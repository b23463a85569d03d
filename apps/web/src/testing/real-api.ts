import { cleanup } from '@testing-library/react';
import { Client } from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ApiSourceProcess } from '../../../../test/support/api-source-process';

/**
 * Called inside a `describe`: the real api (started from source) and a PostgreSQL client on its database for the
 * suite, each test's render unmounted and its stored key cleared. Read `api` and `db` inside hooks and tests only;
 * they are set when the suite starts.
 */
export function withRealApi(): { api: ApiSourceProcess; db: Client } {
  const real = {} as { api: ApiSourceProcess; db: Client };
  beforeAll(async () => {
    real.api = await ApiSourceProcess.start();
    real.db = new Client({ connectionString: real.api.env.databaseUrl });
    await real.db.connect();
  });
  afterAll(async () => {
    await real.db?.end();
    await real.api?.stop();
  });
  afterEach(() => {
    cleanup();
    sessionStorage.clear();
  });
  return real;
}
