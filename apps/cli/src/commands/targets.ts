import { Command, InvalidArgumentError } from 'commander';
import type { Target } from '@certctl/client';
import { CliUsageError, CommandFailed, handler, positiveInt } from '../context';
import { Column, Io, printJson, printPage, renderRecord } from '../output';

const TARGET_COLUMNS: Column<Target>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'NAME', value: (t) => t.name },
  { header: 'TYPE', value: (t) => t.type },
  { header: 'AGENT', value: (t) => t.agent_id },
  { header: 'LAST TEST', value: (t) => (t.test_status ? `${t.test_status} ${t.last_tested_at ?? ''}`.trim() : undefined) },
];

/** `--config-json '{"cert_path": ...}'` (a JSON object) and repeated `--set key=value` (strings; true/false/numbers as JSON). */
function configOf(json: string | undefined, pairs: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  let config: Record<string, unknown> | undefined;
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new CliUsageError('--config-json must be a JSON object');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliUsageError('--config-json must be a JSON object');
    config = parsed as Record<string, unknown>;
  }
  return pairs ? { ...config, ...pairs } : config;
}

function settingOf(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('must be key=value');
  const raw = value.slice(at + 1);
  const typed = /^(true|false|-?\d+)$/.test(raw) ? JSON.parse(raw) as unknown : raw;
  return { ...previous, [value.slice(0, at).trim()]: typed };
}

export function targetsCommand(io: Io, env: Record<string, string | undefined>): Command {
  const targets = new Command('targets').description('deployment targets (NGINX, Apache, HAProxy, files, SSH, Kubernetes Secrets, ...)');

  targets.command('list')
    .description('list deployment targets')
    .option('--type <type>', 'e.g. NGINX, File, SSH, KubernetesSecrets')
    .option('--search <text>', 'in the name')
    .option('--page <n>', 'page number', positiveInt)
    .option('--per-page <n>', 'rows per page (max 500)', positiveInt)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      printPage(io, run.format, await run.client().listTargets({ type: o.type, search: o.search, page: o.page, per_page: o.perPage }), TARGET_COLUMNS, 'target');
    }));

  targets.command('create')
    .description('register a deployment target; the api checks its config for the type (400 names the field)')
    .requiredOption('--name <name>')
    .requiredOption('--type <type>', 'NGINX, Apache, HAProxy, Postfix, Dovecot, Traefik, Envoy, Caddy, File, SSH, KubernetesSecrets')
    .option('--agent-id <id>', 'the agent that deploys to it (default: the server deploys)')
    .option('--config-json <json>', 'the type\'s config as a JSON object (--config is the CLI\'s own config file)')
    .option('--set <key=value>', 'one config field (repeat; applied over --config-json)', settingOf)
    .option('--test', 'run the target\'s test (its validate step, where the deploy runs) after creating it')
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const client = run.client();
      const target = await client.createTarget({ name: o.name, type: o.type, agent_id: o.agentId, config: configOf(o.configJson, o.set) });
      const test = o.test ? await client.testTarget(target.id) : undefined;
      if (run.format === 'json') return printJson(io, test ? { target, test } : target);
      io.out(`created target ${target.id} (${target.name}, ${target.type})\n`);
      if (test) io.out(`test ${test.status}: ${test.message}\n`);
      if (test && test.status !== 'success') throw new CommandFailed(`target ${target.id} failed its test`);
    }));

  targets.command('test <id>')
    .description('run the target\'s validate step without deploying (where the deploy would run)')
    .action(handler(io, env, async (run) => {
      const test = await run.client().testTarget(run.args[0]);
      if (run.format === 'json') return printJson(io, test);
      io.out(`${renderRecord({ ...test })}\n`);
      if (test.status !== 'success') throw new CommandFailed(`target ${run.args[0]} failed its test`);
    }));
  return targets;
}
