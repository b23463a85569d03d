import { Command, Option } from 'commander';
import type { ApiKey } from '@certctl/client';
import { handler } from '../context';
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
const KEY_ROLES = ['admin', 'operator', 'viewer', 'auditor'] as const;
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
  return keys;
}
