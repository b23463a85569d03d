/**
 * The load generator's own process (forked by load-generator.ts), so that it never shares an event loop or a
 * core's time slice with the bench's bookkeeping or a peer. Closed loop: `connections` workers each send one
 * request at a time, cycling through the given requests, until the duration is up.
 * Keep-alive: one socket per worker, reused. Per connection: a fresh TCP connection per request
 * (`Connection: close`), as TLS clients fetch OCSP.
 * Rate by this process's clock: completed answers / (first request sent → last answer read). Beside it the
 * generator's own CPU (100 = one core) and event-loop delay: a generator near 100% or with a long delay is the
 * bottleneck, and the rate says nothing about the server.
 */
import { runLoadJob } from './load-run';
import type { LoadJob } from './load-generator';

process.on('message', (job: LoadJob) => {
  runLoadJob(job).then(
    (result) => process.send!({ ok: true, result }),
    (err: unknown) => process.send!({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
