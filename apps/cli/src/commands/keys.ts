import { Command, Option } from 'commander';
import type { ApiKey, RoleGrant } from '@certctl/client';
import { CliUsageError, handler } from '../context';
import { Column, Io, printJson, printPage } from '../output';

const KEY_COLUMNS: Column<ApiKey>[] = [
  { header: 'ID', value: (k) => k.id },
  { header: 'NAME', value: (k) => k.name },
  { header: 'ROLE', value: (k) => k.role },
  { header: 'CREATED', value: (k) => k.created_at },
  { header: 'EXPIRES', value: (k) => k.expires_at },
  { header: 'LAST USED', value: (k) => k.last_used_at },
  { header: 'REVOKED', value: (k) => k.revoked_at },
];

/** Roles a named key may have (agent keys come from registering an agent). */
const KEY_ROLES = ['admin', 'operator', 'viewer', 'auditor', 'mcp', 'cli'] as const;

const GRANT_COLUMNS: Column<RoleGrant>[] = [
  { header: 'ROLE', value: (g) => g.role_id },
  { header: 'NAME', value: (g) => g.role_name },
  { header: 'SCOPE', value: (g) => (g.scope_id ? `${g.scope_type}:${g.scope_id}` : g.scope_type) },
  { header: 'EXPIRES', value: (g) => g.expires_at },
  { header: 'GRANTED BY', value: (g) => g.granted_by },
];

/** `team:<id>`, `issuer:<id>`, `profile:<id>` or `global`. */
function parseScope(value: string | undefined): { scope_type?: string; scope_id?: string } {
  if (value === undefined || value === 'global') return {};
  const match = /^(team|issuer|profile):(.+)$/.exec(value);
  if (!match) throw new CliUsageError(`--scope must be global, team:<id>, issuer:<id> or profile:<id> (got ${value})`);
  return { scope_type: match[1], scope_id: match[2] };
}
export function keysCommand(io: Io, env: Record<string, string | undefined>): Command {
  const keys = new Command('keys').description('named API keys (admin)');
  keys.command('create')
    .description('create a key; its secret is printed once')
    .requiredOption('--name <name>')
    .addOption(new Option('--role <role>').choices(KEY_ROLES).makeOptionMandatory())
    .option('--expires-at <time>', 'RFC 3339 time')
    .action(handler(io, env, async (run) => {
      const created = await run.client().createKey({ name: run.opts.name, role: run.opts.role, expires_at: run.opts.expiresAt });
      if (run.format === 'json') return printJson(io, created);
      io.out(`created key ${created.id} (${created.name}, ${created.role})\n`);
      io.out(`secret (shown once): ${created.api_key}\n`);
    }));
  keys.command('list')
    .description('list keys (never their secrets)')
    .action(handler(io, env, async (run) => {
      const list = await run.client().listKeys();
      printPage(io, run.format, list, KEY_COLUMNS, 'key');
    }));
  keys.command('revoke <id>')
    .description('revoke a key at once')
    .action(handler(io, env, async (run) => {
      const revoked = await run.client().revokeKey(run.args[0]);
      if (run.format === 'json') return printJson(io, revoked);
      io.out(`key ${revoked.id} (${revoked.name}) revoked\n`);
    }));
  keys.command('roles <id>')
    .description('the roles granted to a key, and where')
    .action(handler(io, env, async (run) => {
      const { grants } = await run.client().listKeyRoles(run.args[0]);
      printPage(io, run.format, { data: grants, total: grants.length }, GRANT_COLUMNS, 'grant');
    }));
  keys.command('grant <id>')
    .description('grant a role (built-in r-… or custom) to a key, everywhere or within one team, issuer or profile')
    .requiredOption('--role <role_id>', 'e.g. r-operator')
    .option('--scope <scope>', 'global (default), team:<id>, issuer:<id> or profile:<id>')
    .option('--expires-at <time>', 'RFC 3339 time')
    .action(handler(io, env, async (run) => {
      const grant = await run.client().grantKeyRole(run.args[0], { role_id: run.opts.role, ...parseScope(run.opts.scope), expires_at: run.opts.expiresAt });
      if (run.format === 'json') return printJson(io, grant);
      io.out(`granted ${grant.role_id} to key ${grant.actor_id} (${grant.scope_id ? `${grant.scope_type} ${grant.scope_id}` : 'global'})\n`);
    }));
  keys.command('ungrant <id> <role_id>')
    .description('take a role back from a key (in every scope)')
    .action(handler(io, env, async (run) => {
      await run.client().revokeKeyRole(run.args[0], run.args[1]);
      io.out(`took ${run.args[1]} back from key ${run.args[0]}\n`);
    }));
  return keys;
}
