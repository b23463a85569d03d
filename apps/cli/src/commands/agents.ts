import { Command } from 'commander';
import type { Agent } from '@certctl/client';
import { handler, positiveInt } from '../context';
import { Column, Io, printPage } from '../output';

const AGENT_COLUMNS: Column<Agent>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'NAME', value: (a) => a.name },
  { header: 'HOSTNAME', value: (a) => a.hostname },
  { header: 'STATUS', value: (a) => a.status },
  { header: 'LAST HEARTBEAT', value: (a) => a.last_heartbeat_at },
  { header: 'VERSION', value: (a) => a.version },
  { header: 'OS/ARCH', value: (a) => (a.os || a.architecture ? `${a.os ?? ''}/${a.architecture ?? ''}` : undefined) },
];
export function agentsCommand(io: Io, env: Record<string, string | undefined>): Command {
  const agents = new Command('agents').description('agents on target hosts');
  agents.command('list')
    .description('list agents with their status and last heartbeat')
    .option('--page <n>', 'page number', positiveInt)
    .option('--per-page <n>', 'rows per page (max 500)', positiveInt)
    .action(handler(io, env, async (run) => {
      const page = await run.client().listAgents({ page: run.opts.page, per_page: run.opts.perPage });
      printPage(io, run.format, page, AGENT_COLUMNS, 'agent');
    }));
  return agents;
}
