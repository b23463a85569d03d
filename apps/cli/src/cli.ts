import { Command, CommanderError, Option } from 'commander';
import { CertctlApiError, CertctlConfigError, CertctlConnectionError, DEFAULT_SERVER_URL } from '@certctl/client';
import { certsCommand } from './commands/certs';
import { bulkRenewCommand } from './commands/bulk-renew';
import { jobsCommand } from './commands/jobs';
import { approvalsCommand } from './commands/approvals';
import { agentsCommand } from './commands/agents';
import { auditCommand } from './commands/audit';
import { keysCommand } from './commands/keys';
import { scanCommand } from './commands/scan';
import { notificationsCommand } from './commands/notifications';
import { loginCommand } from './commands/login';
import { targetsCommand } from './commands/targets';
import { whoamiCommand } from './commands/whoami';
import { COMPLETION_SHELLS, completionScript, CompletionShell } from './completion';
import { CliUsageError, CommandFailed, positiveInt } from './context';
import { Io, OUTPUT_FORMATS } from './output';

/** Exit codes: documented in the README ("CLI"). */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, NotConfigured: 3, NotFound: 4 } as const;

export function buildProgram(io: Io, env: Record<string, string | undefined>): Command {
  const program = new Command('certctl')
    .description('certctl from the command line: certificates, targets, jobs, notifications, agents, scans, audit and keys')
    .version('0.1.0')
    .option('--server <url>', `the api (CERTCTL_SERVER_URL, config file, else ${DEFAULT_SERVER_URL})`)
    .option('--api-key <key>', 'API key (CERTCTL_API_KEY or the config file; prefer those: flags show up in ps)')
    .option('--config <path>', 'JSON config file {"server_url", "api_key"} (CERTCTL_CONFIG, else ~/.config/certctl/config.json)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .option('--timeout <seconds>', 'per-request timeout', positiveInt)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });

  for (const command of [
    certsCommand(io, env), bulkRenewCommand(io, env), targetsCommand(io, env), jobsCommand(io, env), approvalsCommand(io, env), notificationsCommand(io, env),
    agentsCommand(io, env), scanCommand(io, env), auditCommand(io, env), keysCommand(io, env), loginCommand(io, env), whoamiCommand(io, env),
  ]) program.addCommand(command);

  program.command('completion')
    .description('print a shell completion script: eval "$(certctl completion bash)"')
    .addArgument(program.createArgument('<shell>', 'bash or zsh').choices(COMPLETION_SHELLS))
    .action((shell: CompletionShell) => io.out(completionScript(program, shell)));

  // Every (sub)command reports usage errors the same way and leaves exiting to run().
  const configure = (command: Command) => {
    command.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) }).showSuggestionAfterError();
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Runs one command line and returns the exit code; errors become one line on stderr. */
export async function runCli(argv: string[], io: Io, env: Record<string, string | undefined>): Promise<number> {
  const program = buildProgram(io, env);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage; // commander printed it
    if (err instanceof CliUsageError) {
      io.err(`error: ${err.message}\n`);
      return ExitCode.Usage;
    }
    if (err instanceof CertctlConfigError) {
      io.err(`certctl: ${err.message}\n`);
      return ExitCode.NotConfigured;
    }
    if (err instanceof CertctlApiError) {
      io.err(`certctl: ${err.oneLine()}\n`);
      return err.status === 404 ? ExitCode.NotFound : ExitCode.Failed;
    }
    if (err instanceof CertctlConnectionError || err instanceof CommandFailed) {
      io.err(`certctl: ${err.message}\n`);
      return ExitCode.Failed;
    }
    io.err(`certctl: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
    return ExitCode.Failed;
  }
}
