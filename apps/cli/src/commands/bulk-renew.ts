import { Command } from 'commander';
import { CertctlClient, FINISHED_JOB_STATUSES, Job } from '@certctl/client';
import { CommandFailed, handler, positiveInt, sleep } from '../context';
import { Io, printJson } from '../output';
import { bulkCriteriaOf, withBulkCriteria } from './bulk-criteria';
import { ProgressBar } from '../progress';

export function bulkRenewCommand(io: Io, env: Record<string, string | undefined>): Command {
  return withBulkCriteria(new Command('bulk-renew')
    .description('open a renewal for every certificate matching the criteria (at least one)'))
    .option('--wait', 'wait for every job opened to finish, with a progress bar')
    .option('--wait-timeout <seconds>', 'give up waiting after this long', positiveInt, 600)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const client = run.client();
      const result = await client.bulkRenew(bulkCriteriaOf(o));
      const jobIds = (result.enqueued_jobs ?? []).map((j) => j.job_id);
      const finished = o.wait ? await waitForJobs(client, io, jobIds, o.waitTimeout * 1000) : undefined;
      if (run.format === 'json') {
        printJson(io, finished ? { ...result, jobs: finished } : result);
      } else {
        io.out(`matched ${result.total_matched}, enqueued ${result.total_enqueued}, skipped ${result.total_skipped}, failed ${result.total_failed}\n`);
        for (const e of result.errors ?? []) io.out(`  ${e.certificate_id}: ${e.error}\n`);
        if (finished) io.out(`${renderTableOfOutcomes(finished)}\n`);
      }
      const failed = finished?.filter((j) => j.status !== 'Completed') ?? [];
      if (failed.length) {
        const first = failed[0];
        throw new CommandFailed(`${failed.length} of ${finished!.length} renewals did not complete (first: job ${first.id} ${first.status}${first.last_error ? `: ${first.last_error}` : ''})`);
      }
    }));
}

function renderTableOfOutcomes(jobs: Job[]): string {
  const counts = new Map<string, number>();
  for (const j of jobs) counts.set(j.status, (counts.get(j.status) ?? 0) + 1);
  return `jobs: ${[...counts].map(([status, n]) => `${n} ${status}`).join(', ') || 'none'}`;
}

/**
 * Polls each job until it is Completed, Failed or Cancelled (a few at a time), drawing the progress bar.
 * Jobs still open at the deadline are returned as they were last seen.
 */
export async function waitForJobs(client: CertctlClient, io: Io, jobIds: string[], timeoutMs: number, pollMs = 500): Promise<Job[]> {
  const latest = new Map<string, Job>();
  const bar = new ProgressBar(io);
  const deadline = Date.now() + timeoutMs;
  const open = () => jobIds.filter((id) => !FINISHED_JOB_STATUSES.includes(latest.get(id)?.status ?? ''));
  for (;;) {
    const pending = open();
    for (let i = 0; i < pending.length; i += 8) {
      const batch = await Promise.all(pending.slice(i, i + 8).map((id) => client.getJob(id)));
      for (const job of batch) latest.set(job.id, job);
    }
    const done = jobIds.length - open().length;
    const failed = [...latest.values()].filter((j) => j.status === 'Failed' || j.status === 'Cancelled').length;
    const waiting = [...new Set(open().map((id) => latest.get(id)?.status).filter(Boolean))].join('/');
    bar.update(done, jobIds.length, `done${failed ? `, ${failed} failed` : ''}${waiting ? `, waiting: ${waiting}` : ''}`);
    if (done === jobIds.length || Date.now() >= deadline) break;
    await sleep(pollMs);
  }
  bar.finish();
  return jobIds.map((id) => latest.get(id)!).filter(Boolean);
}
