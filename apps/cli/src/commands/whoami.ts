import { Command } from 'commander';
import { handler } from '../context';
import { Io, printJson } from '../output';

/**
 * `certctl whoami`: what GET /auth/me says of the configured key — its roles and where they apply, and the
 * permissions they add up to (the CLI decides nothing itself: the api answers 403 naming what is missing).
 */
export function whoamiCommand(io: Io, env: Record<string, string | undefined>): Command {
  return new Command('whoami')
    .description('who the configured key is, its roles (and where) and its permissions')
    .action(handler(io, env, async (run) => {
      const me = await run.client().me();
      if (run.format === 'json') return printJson(io, me);
      io.out(`${me.actor ?? me.user ?? 'this key'} (${me.actor_type ?? 'unknown'}${me.actor_id ? ` ${me.actor_id}` : ''})\n`);
      const grants = me.role_grants ?? [];
      if (!grants.length) io.out('roles: none\n');
      for (const g of grants) {
        const where = g.scope_id ? `${g.scope_type} ${g.scope_id}` : 'global';
        io.out(`role ${g.role_id} (${g.role_name}): ${where}${g.expires_at ? `, until ${g.expires_at}` : ''}${g.via === 'group' ? ', through a group' : ''}\n`);
      }
      io.out(`permissions: ${(me.permissions ?? []).join(', ') || 'none'}\n`);
    }));
}
