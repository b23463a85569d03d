import { Command } from 'commander';
import { BulkCriteria } from '@certctl/client';
import { commaList } from '../context';

/** certctl's bulk criteria as flags, the same for bulk-renew and certs bulk-revoke. */
export function withBulkCriteria(command: Command): Command {
  return command
    .option('--certificate-ids <ids>', 'comma-separated certificate ids', commaList)
    .option('--profile-id <id>')
    .option('--owner-id <id>')
    .option('--agent-id <id>')
    .option('--issuer-id <id>')
    .option('--team-id <id>');
}

/** The criteria those flags gave (unset ones left undefined, so the API sees only what was asked). */
export function bulkCriteriaOf(opts: Record<string, unknown>): BulkCriteria {
  return {
    certificate_ids: opts.certificateIds as string[] | undefined, profile_id: opts.profileId as string | undefined,
    owner_id: opts.ownerId as string | undefined, agent_id: opts.agentId as string | undefined,
    issuer_id: opts.issuerId as string | undefined, team_id: opts.teamId as string | undefined,
  };
}
