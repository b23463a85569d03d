import { Command } from 'commander';
import { CommandFailed, handler } from '../context';
import { Io, printJson } from '../output';

export function auditCommand(io: Io, env: Record<string, string | undefined>): Command {
  const audit = new Command('audit').description('the audit trail');
  audit.command('verify')
    .description('walk the hash chain; exits 1 naming the first broken row')
    .action(handler(io, env, async (run) => {
      const result = await run.client().verifyAudit();
      if (run.format === 'json') printJson(io, result);
      else if (result.intact) {
        io.out(`audit chain intact: ${result.rows_checked} rows checked\n`);
        if (result.warning) io.out(`warning: ${result.warning}\n`);
      }
      if (!result.intact) {
        const at = result.first_break;
        throw new CommandFailed(`audit chain broken at row ${at?.seq ?? '?'} (${at?.id ?? 'unknown id'}): ${at?.reason ?? 'no reason given'}`);
      }
    }));
  return audit;
}
