import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { Approval, CertctlClient } from '@certctl/client';
import { call, cell, ok } from '../result';
import { id, pageInput, pageOutput } from './schemas';

const approvalOutput = z.looseObject({
  id: z.string(),
  approval_kind: z.string(),
  state: z.string(),
  requested_by: z.string(),
  job_id: z.string().nullish(),
  profile_id: z.string().nullish(),
  decided_by: z.string().nullish(),
  decision_note: z.string().nullish(),
  expires_at: z.string(),
});

function subject(a: Approval): string {
  return a.approval_kind === 'profile_edit' ? `edit of profile ${a.profile_id}` : `job ${a.job_id} of ${a.certificate_id}`;
}

/** The four-eyes queue: the key this server runs with may decide only requests another key or person made. */
export function registerApprovalTools(server: McpServer, client: CertctlClient): void {
  server.registerTool('certctl_approval_list', {
    title: 'List approval requests',
    description: 'Four-eyes requests: issuance held by an approval-gated profile, and edits of approval-gated profiles (newest first).',
    inputSchema: {
      state: z.enum(['pending', 'approved', 'rejected', 'expired']).optional(),
      approval_kind: z.enum(['cert_issuance', 'profile_edit']).optional(),
      ...pageInput,
    },
    outputSchema: pageOutput(approvalOutput),
    annotations: { readOnlyHint: true },
  }, (input) => call(async () => {
    const page = await client.listApprovals(input);
    return ok(page, `${page.total} approval request${page.total === 1 ? '' : 's'}; ${page.data.length} shown.`,
      page.data.map((a) => `${a.id}  ${a.state}  ${subject(a)}  requested by ${cell(a.requested_by)}  expires ${cell(a.expires_at)}`));
  }));

  for (const [verb, past] of [['approve', 'approved'], ['reject', 'rejected']] as const) {
    server.registerTool(`certctl_approval_${verb}`, {
      title: verb === 'approve' ? 'Approve a request' : 'Reject a request',
      description: verb === 'approve'
        ? 'Approve a pending four-eyes request made by someone else: the held issuance runs, or the profile edit is applied.'
        : 'Reject a pending four-eyes request made by someone else: the held job is cancelled with the note, or the profile edit is dropped.',
      inputSchema: { id: id('approval request'), note: z.string().max(2000).optional().describe('why, kept with the decision') },
      outputSchema: approvalOutput,
      annotations: { readOnlyHint: false, destructiveHint: verb === 'reject', idempotentHint: false },
    }, ({ id: approvalId, note }) => call(async () => {
      const decided = await client.decideApproval(approvalId, verb, note);
      return ok(decided, `Approval ${decided.id} ${past}: ${subject(decided)}.`, decided.decision_note ? [`note ${cell(decided.decision_note)}`] : []);
    }));
  }
}
