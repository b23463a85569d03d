import { Command, Option } from 'commander';
import { Agent, ApiKey, CertctlApiError, CertctlClient, DiscoveryScan, FINISHED_SCAN_STATUSES, NetworkScanTarget } from '@certctl/client';
import { CommandFailed, handler, positiveInt, sleep } from '../context';
import { Column, Io, printJson, printPage, renderTable } from '../output';
import { ProgressBar } from '../progress';

const AGENT_COLUMNS: Column<Agent>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'NAME', value: (a) => a.name },
  { header: 'HOSTNAME', value: (a) => a.hostname },
  { header: 'STATUS', value: (a) => a.status },
  { header: 'LAST HEARTBEAT', value: (a) => a.last_heartbeat_at },
  { header: 'VERSION', value: (a) => a.version },
  { header: 'OS/ARCH', value: (a) => (a.os || a.architecture ? `${a.os ?? ''}/${a.architecture ?? ''}` : undefined) },
];

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
      io.out(`secret (shown once): ${created.key}\n`);
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

export function auditCommand(io: Io, env: Record<string, string | undefined>): Command {
  const audit = new Command('audit').description('the audit trail');
  audit.command('verify')
    .description('walk the hash chain; exits 1 naming the first broken row')
    .action(handler(io, env, async (run) => {
      const result = await run.client().verifyAudit();
      if (run.format === 'json') printJson(io, result);
      else if (result.intact) io.out(`audit chain intact: ${result.rows_checked} rows checked\n`);
      if (!result.intact) {
        const at = result.first_break;
        throw new CommandFailed(`audit chain broken at row ${at?.seq ?? '?'} (${at?.id ?? 'unknown id'}): ${at?.reason ?? 'no reason given'}`);
      }
    }));
  return audit;
}

export function scanCommand(io: Io, env: Record<string, string | undefined>): Command {
  const scan = new Command('scan').description('network discovery scans');
  scan.command('run <target>')
    .description('scan a network scan target (id or name) now')
    .option('--wait', 'follow the scan to its end with a progress bar')
    .option('--wait-timeout <seconds>', 'give up waiting after this long', positiveInt, 3600)
    .action(handler(io, env, async (run) => {
      const client = run.client();
      const target = await findScanTarget(client, run.args[0]);
      const started = await client.startNetworkScan(target.id);
      if (!run.opts.wait) {
        if (run.format === 'json') return printJson(io, started);
        io.out(`scan ${started.scan_id} started for ${target.name} (${target.id}); follow it with --wait or GET /api/v1/discovery-scans/${started.scan_id}\n`);
        return;
      }
      if (run.format === 'table') io.err(`scan ${started.scan_id} started for ${target.name}\n`);
      const final = await followScan(client, io, started.scan_id, run.opts.waitTimeout * 1000);
      if (run.format === 'json') printJson(io, final);
      else io.out(`${renderTable([final], SCAN_COLUMNS)}\n`);
      if (!FINISHED_SCAN_STATUSES.includes(final.status)) throw new CommandFailed(`scan ${final.id} still ${final.status} after ${run.opts.waitTimeout} s`);
      if (final.status === 'Failed') throw new CommandFailed(`scan ${final.id} failed: ${final.last_error ?? 'no error recorded'}`);
    }));
  return scan;
}

const SCAN_COLUMNS: Column<DiscoveryScan>[] = [
  { header: 'SCAN', value: (s) => s.id },
  { header: 'STATUS', value: (s) => s.status },
  { header: 'ADDRESSES', value: (s) => `${s.addresses_done ?? 0}/${s.addresses_total ?? 0}` },
  { header: 'FOUND', value: (s) => s.certificates_found },
  { header: 'NEW', value: (s) => s.certificates_new },
  { header: 'ERRORS', value: (s) => s.errors_count },
];

/** A target by id, else by exact name (names are what people remember). */
async function findScanTarget(client: CertctlClient, idOrName: string): Promise<NetworkScanTarget> {
  try {
    return await client.getNetworkScanTarget(idOrName);
  } catch (err) {
    if (!(err instanceof CertctlApiError) || err.status !== 404) throw err;
    const byName = (await client.listNetworkScanTargets({ search: idOrName, per_page: 500 })).data.filter((t) => t.name === idOrName);
    if (byName.length === 1) return byName[0];
    if (byName.length > 1) throw new CommandFailed(`${byName.length} network scan targets are named "${idOrName}": give the id (${byName.map((t) => t.id).join(', ')})`);
    throw err;
  }
}

async function followScan(client: CertctlClient, io: Io, scanId: string, timeoutMs: number, pollMs = 500): Promise<DiscoveryScan> {
  const bar = new ProgressBar(io);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const scan = await client.getDiscoveryScan(scanId);
    bar.update(scan.addresses_done ?? 0, scan.addresses_total ?? 0, `${scan.status}, ${scan.certificates_found ?? 0} found, ${scan.errors_count ?? 0} errors`);
    if (FINISHED_SCAN_STATUSES.includes(scan.status) || Date.now() >= deadline) {
      bar.finish();
      return scan;
    }
    await sleep(pollMs);
  }
}
