import { get } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { startApi, type ApiHarness } from '../support/api-harness';

const ROWS = 100_000;
/** Each event carries ~600 bytes of details, so the whole export is ~85 MB: more than twice the memory bound below. */
const PADDING = 600;
const MEMORY_BOUND_BYTES = 40 * 1024 * 1024;

// A real garbage collection before each sample (twice a second), so the samples count what is held, not garbage not yet collected.
setFlagsFromString('--expose_gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** GET /audit/export streams from a cursor: 100,000 events go out while the api's memory stays flat. */
describe('audit export at scale', () => {
  let api: ApiHarness;
  let port: number;

  beforeAll(async () => {
    api = await startApi();
    // Sealing 100,000 rows into the hash chain one by one costs minutes of CPU and is not what this test is about:
    // the rows go in pre-numbered, with the triggers off for this one session (this file's own database).
    await api.db.query(`SET session_replication_role = replica`);
    await api.db.query(
      `INSERT INTO audit_events (id, seq, actor, actor_type, action, resource_type, resource_id, event_category, details, prev_hash, row_hash)
       SELECT 'audit-scale-' || g, 1000000 + g, 'scale', 'System', 'scale_test', 'test', g::text, 'config',
              jsonb_build_object('n', g, 'pad', repeat('x', $2)), 'unsealed', 'unsealed'
         FROM generate_series(1, $1::int) g`,
      [ROWS, PADDING],
    );
    await api.db.query(`SET session_replication_role = DEFAULT`);
    port = await freePort();
    await api.app.listen(port, '127.0.0.1');
  }, 600_000);
  afterAll(async () => api?.close());

  it(`streams ${ROWS.toLocaleString('en')} events in order with bounded memory`, async () => {
    const memory = () => {
      collectGarbage();
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    const baseline = memory();
    let peak = baseline;
    let samples = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, memory());
      samples += 1;
    }, 500);
    let lines = 0;
    let bytes = 0;
    let lastN = 0;
    let ordered = true;
    let tail = '';
    try {
      await new Promise<void>((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: `/api/v1/audit/export?action=scale_test&limit=${ROWS}`, headers: api.auth() }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            bytes += chunk.length;
            const parts = (tail + chunk).split('\n');
            tail = parts.pop()!;
            for (const line of parts) {
              const n = (JSON.parse(line) as { details: { n: number } }).details.n;
              if (n !== lastN + 1) ordered = false;
              lastN = n;
              lines += 1;
            }
          });
          res.on('end', resolve);
          res.on('error', reject);
        }).on('error', reject);
      });
    } finally {
      clearInterval(sampler);
    }
    expect(samples).toBeGreaterThan(3); // the export took long enough to be watched
    expect(tail).toBe('');
    expect(lines).toBe(ROWS);
    expect(ordered).toBe(true);
    expect(bytes).toBeGreaterThan(ROWS * PADDING);
    const growth = peak - baseline;
    process.stdout.write(`audit export: ${lines} rows, ${(bytes / 1e6).toFixed(0)} MB, peak memory growth ${(growth / 1048576).toFixed(1)} MiB\n`);
    expect(growth).toBeLessThan(MEMORY_BOUND_BYTES);
  }, 300_000);
});
