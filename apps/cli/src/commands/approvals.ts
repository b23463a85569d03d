import { Command, Option } from 'commander';
import type { Approval } from '@certctl/client';
import { handler, positiveInt } from '../context';
import { Column, Io, printJson, printPage } from '../output';

const APPROVAL_COLUMNS: Column<Approval>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'KIND', value: (a) => a.approval_kind },
  { header: 'STATE', value: (a) => a.state },
  { header: 'SUBJECT', value: (a) => (a.approval_kind === 'profile_edit' ? `profile ${a.profile_id}` : `job ${a.job_id} (${a.certificate_id})`) },
  { header: 'REQUESTED BY', value: (a) => a.requested_by },
  { header: 'CREATED', value: (a) => a.created_at },
  { header: 'EXPIRES', value: (a) => a.expires_at },
  { header: 'DECIDED BY', value: (a) => a.decided_by },
  { header: 'NOTE', value: (a) => a.decision_note },
];

/** The four-eyes queue: issuance held by a profile's approval gate, and edits of approval-gated profiles. */
export function approvalsCommand(io: Io, env: Record<string, string | undefined>): Command {
  const approvals = new Command('approvals').description('four-eyes approval requests (issuance of gated profiles, profile edits)');

  approvals.command('list')
    .description('list approval requests, newest first')
    .addOption(new Option('--state <state>').choices(['pending', 'approved', 'rejected', 'expired']))
    .addOption(new Option('--kind <kind>').choices(['cert_issuance', 'profile_edit']))
    .option('--page <n>', 'page number', positiveInt)
    .option('--per-page <n>', 'rows per page (max 500)', positiveInt)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const page = await run.client().listApprovals({ state: o.state, approval_kind: o.kind, page: o.page, per_page: o.perPage });
      printPage(io, run.format, page, APPROVAL_COLUMNS, 'approval request');
    }));

  for (const [verb, past] of [['approve', 'approved'], ['reject', 'rejected']] as const) {
    approvals.command(`${verb} <id>`)
      .description(`${verb} a request someone else made (your own is refused)`)
      .option('--note <text>', 'why, kept with the decision')
      .action(handler(io, env, async (run) => {
        const decided = await run.client().decideApproval(run.args[0], verb, run.opts.note);
        if (run.format === 'json') return printJson(io, decided);
        const subject = decided.approval_kind === 'profile_edit' ? `edit of profile ${decided.profile_id}` : `job ${decided.job_id}`;
        io.out(`approval ${decided.id} ${past}: ${subject}\n`);
      }));
  }
  return approvals;
}
