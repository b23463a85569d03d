import { Command } from 'commander';
import type { Job } from '@certctl/client';
import { handler, positiveInt } from '../context';
import { Column, Io, printJson, printPage } from '../output';

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
