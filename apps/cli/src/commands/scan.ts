import { Command } from 'commander';
import { CertctlApiError, CertctlClient, DiscoveryScan, FINISHED_SCAN_STATUSES, NetworkScanTarget } from '@certctl/client';
import { CommandFailed, handler, positiveInt, sleep } from '../context';
import { Column, Io, printJson, renderTable } from '../output';
import { ProgressBar } from '../progress';

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
