import { Command } from 'commander';
import { CertctlClient, FINISHED_JOB_STATUSES, Job } from '@certctl/client';
import { CommandFailed, commaList, handler, positiveInt, sleep } from '../context';
import { Column, Io, printJson, printPage } from '../output';
import { ProgressBar } from '../progress';

const JOB_COLUMNS: Column<Job>[] = [
  { header: 'ID', value: (j) => j.id },
  { header: 'TYPE', value: (j) => j.type },
  { header: 'CERTIFICATE', value: (j) => j.certificate_id },
  { header: 'STATUS', value: (j) => j.status },
  { header: 'ATTEMPTS', value: (j) => (j.max_attempts === undefined ? j.attempts : `${j.attempts ?? 0}/${j.max_attempts}`) },
  { header: 'CREATED', value: (j) => j.created_at },
  { header: 'LAST ERROR', value: (j) => j.last_error },
];

export function jobsCommand(io: Io, env: Record<string, string | undefined>): Command {
  const jobs = new Command('jobs').description('issuance, renewal and deployment jobs');

  jobs.command('list')
    .description('list jobs')
    .option('--status <status>', 'Pending, AwaitingCSR, AwaitingApproval, Running, Completed, Failed, Cancelled')
    .option('--type <type>', 'Issuance, Renewal, Deployment')
    .option('--certificate-id <id>')
    .option('--agent-id <id>')
    .option('--page <n>', 'page number', positiveInt)
    .option('--per-page <n>', 'rows per page (max 500)', positiveInt)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const page = await run.client().listJobs({
        status: o.status, type: o.type, certificate_id: o.certificateId, agent_id: o.agentId, page: o.page, per_page: o.perPage,
      });
      printPage(io, run.format, page, JOB_COLUMNS, 'job');
    }));

  for (const [verb, past] of [['approve', 'approved'], ['reject', 'rejected']] as const) {
    jobs.command(`${verb} <id>`)
      .description(`${verb} a job held by its profile's approval gate`)
      .option('--note <text>', 'why, kept with the decision')
      .action(handler(io, env, async (run) => {
        const client = run.client();
        const job = verb === 'approve' ? await client.approveJob(run.args[0], run.opts.note) : await client.rejectJob(run.args[0], run.opts.note);
        if (run.format === 'json') return printJson(io, job);
        io.out(`job ${job.id} ${past}: now ${job.status}\n`);
      }));
  }
  return jobs;
}

export function bulkRenewCommand(io: Io, env: Record<string, string | undefined>): Command {
  return new Command('bulk-renew')
    .description('open a renewal for every certificate matching the criteria (at least one)')
    .option('--certificate-ids <ids>', 'comma-separated certificate ids', commaList)
    .option('--profile-id <id>')
    .option('--owner-id <id>')
    .option('--agent-id <id>')
    .option('--issuer-id <id>')
    .option('--team-id <id>')
    .option('--wait', 'wait for every job opened to finish, with a progress bar')
    .option('--wait-timeout <seconds>', 'give up waiting after this long', positiveInt, 600)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const client = run.client();
      const result = await client.bulkRenew({
        certificate_ids: o.certificateIds, profile_id: o.profileId, owner_id: o.ownerId, agent_id: o.agentId,
        issuer_id: o.issuerId, team_id: o.teamId,
      });
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
