import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { startApi, type ApiHarness } from '../support/api-harness';

const ROWS = 100_000;
/** Each event carries ~600 bytes of details, so the whole export is ~85 MB: more than twice the memory bound below. */
const PADDING = 600;
const MEMORY_BOUND_BYTES = 40 * 1024 * 1024;
/** Memory is sampled each time the client has read this many more rows: 20 samples whatever the machine's speed. */
const SAMPLE_EVERY_ROWS = 5_000;

// A real garbage collection before each sample, so the samples count what is held, not garbage not yet collected.
setFlagsFromString('--expose_gc');
const collectGarbage = runInNewContext('gc') as () => void;

function heldMemory(): number {
  collectGarbage();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

interface ExportReading {
  lines: number;
  bytes: number;
  ordered: boolean;
  tail: string;
  samples: number;
  growth: number;
}

/**
 * Reads an NDJSON export the way a slow client does: after every SAMPLE_EVERY_ROWS rows it stops reading, measures
 * what the process (api and client together: the api runs in this process) holds, and only then asks for more.
 * The samples are tied to rows read, not to time, so a fast export is watched as closely as a slow one.
 */
function readExportSlowly(port: number, path: string, headers: Record<string, string>): Promise<ExportReading> {
  const baseline = heldMemory();
  let peak = baseline;
  const reading: ExportReading = { lines: 0, bytes: 0, ordered: true, tail: '', samples: 0, growth: 0 };
  let lastN = 0;
  let nextSampleAt = SAMPLE_EVERY_ROWS;
  return new Promise<ExportReading>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        reading.bytes += chunk.length;
        const parts = (reading.tail + chunk).split('\n');
        reading.tail = parts.pop()!;
        for (const line of parts) {
          const n = (JSON.parse(line) as { details: { n: number } }).details.n;
          if (n !== lastN + 1) reading.ordered = false;
          lastN = n;
          reading.lines += 1;
        }
        if (reading.lines >= nextSampleAt) {
          nextSampleAt += SAMPLE_EVERY_ROWS;
          res.pause();
          setImmediate(() => {
            peak = Math.max(peak, heldMemory());
            reading.samples += 1;
            res.resume();
          });
        }
      });
      res.on('end', () => resolve({ ...reading, growth: peak - baseline }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** GET /audit/export streams from a cursor: 100,000 events go out while the api's memory stays flat. */
describe('audit export at scale', () => {
  let api: ApiHarness;
  let port: number;
  /** What a non-streaming export would do: every row read, the whole body built, then sent. The control for the bound. */
  let bufferedExport: Server;

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
    bufferedExport = createServer((_req, res) => {
      void api.db.query(`SELECT * FROM audit_events WHERE action = 'scale_test' ORDER BY seq`).then(({ rows }) => {
        res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
        res.end(rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
      }, (err: Error) => res.destroy(err));
    });
    await new Promise<void>((done) => bufferedExport.listen(0, '127.0.0.1', done));
  }, 600_000);
  afterAll(async () => {
    await new Promise((done) => bufferedExport?.close(done));
    await api?.close();
  });

  it(`streams ${ROWS.toLocaleString('en')} events in order with bounded memory, a bound that a buffered export breaks`, async () => {
    const streamed = await readExportSlowly(port, `/api/v1/audit/export?action=scale_test&limit=${ROWS}`, api.auth());
    expect(streamed.tail).toBe('');
    expect(streamed.lines).toBe(ROWS);
    expect(streamed.ordered).toBe(true);
    expect(streamed.bytes).toBeGreaterThan(ROWS * PADDING);
    expect(streamed.samples).toBe(ROWS / SAMPLE_EVERY_ROWS);

    const buffered = await readExportSlowly((bufferedExport.address() as AddressInfo).port, '/', {});
    expect(buffered.lines).toBe(ROWS);
    expect(buffered.samples).toBe(ROWS / SAMPLE_EVERY_ROWS);

    const mib = (n: number) => (n / 1048576).toFixed(1);
    process.stdout.write(
      `audit export: ${streamed.lines} rows, ${(streamed.bytes / 1e6).toFixed(0)} MB; peak memory growth ${mib(streamed.growth)} MiB ` +
        `streamed, ${mib(buffered.growth)} MiB buffered (bound ${mib(MEMORY_BOUND_BYTES)} MiB)\n`,
    );
    expect(streamed.growth).toBeLessThan(MEMORY_BOUND_BYTES);
    // The same bound, the same sampling: a buffered export breaks it, so the bound tests streaming and not luck.
    expect(buffered.growth).toBeGreaterThan(MEMORY_BOUND_BYTES);
  }, 300_000);
});
