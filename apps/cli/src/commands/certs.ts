import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { BulkCriteria, BulkRevokeResult, Certificate, REVOCATION_REASONS, RevocationReason } from '@certctl/client';
import { commaList, CommandFailed, handler, positiveInt } from '../context';
import { Column, Io, printJson, printPage, renderRecord, renderTable } from '../output';
import { bulkCriteriaOf, withBulkCriteria } from './bulk-criteria';
import { waitForJobs } from './bulk-renew';
import { tagOf } from './tags';

const CERTIFICATE_COLUMNS: Column<Certificate>[] = [
  { header: 'ID', value: (c) => c.id },
  { header: 'NAME', value: (c) => c.name },
  { header: 'COMMON NAME', value: (c) => c.common_name },
  { header: 'STATUS', value: (c) => c.status },
  { header: 'EXPIRES', value: (c) => c.expires_at },
  { header: 'ENV', value: (c) => c.environment },
];

export function certsCommand(io: Io, env: Record<string, string | undefined>): Command {
  const certs = new Command('certs').description('managed certificates');

  certs.command('list')
    .description('list certificates (filters combine)')
    .option('--status <status>', 'Pending, Active, Expiring, Expired, RenewalInProgress, Failed, Revoked, Archived')
    .option('--environment <env>')
    .option('--owner-id <id>')
    .option('--team-id <id>')
    .option('--issuer-id <id>')
    .option('--profile-id <id>')
    .option('--expires-before <time>', 'RFC 3339 time')
    .option('--expires-after <time>', 'RFC 3339 time')
    .option('--search <text>', 'in name, common name and SANs')
    .option('--sort <field>', 'e.g. expires_at or -expires_at')
    .option('--page <n>', 'page number', positiveInt)
    .option('--per-page <n>', 'rows per page (max 500)', positiveInt)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const page = await run.client().listCertificates({
        status: o.status, environment: o.environment, owner_id: o.ownerId, team_id: o.teamId, issuer_id: o.issuerId,
        profile_id: o.profileId, expires_before: o.expiresBefore, expires_after: o.expiresAfter, search: o.search, sort: o.sort,
        page: o.page, per_page: o.perPage,
      });
      printPage(io, run.format, page, CERTIFICATE_COLUMNS, 'certificate');
    }));

  certs.command('create')
    .description('register a certificate to manage; --issue also starts its first issuance')
    .requiredOption('--common-name <name>', 'the subject CN (also the first SAN when --san is not given)')
    .option('--name <name>', 'inventory name (default: the common name)')
    .option('--san <name>', 'a subject alternative name (repeat, or comma-separated)', (value: string, previous: string[] = []) => [...previous, ...commaList(value)])
    .requiredOption('--owner-id <id>')
    .requiredOption('--issuer-id <id>')
    .option('--team-id <id>')
    .option('--renewal-policy-id <id>', 'default: the server\'s default policy')
    .option('--profile-id <id>', 'certificate profile')
    .option('--environment <env>', 'e.g. prod, staging')
    .option('--tag <key=value>', 'a tag (repeat)', (value: string, previous: Record<string, string> = {}) => ({ ...previous, ...tagOf(value) }))
    .option('--issue', 'start the first issuance now (same as certs renew <id>)')
    .option('--wait', 'with --issue: wait for the issuance job to finish')
    .option('--wait-timeout <seconds>', 'give up waiting after this long', positiveInt, 300)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const client = run.client();
      const certificate = await client.createCertificate({
        name: o.name ?? o.commonName, common_name: o.commonName, sans: o.san ?? [o.commonName], owner_id: o.ownerId, issuer_id: o.issuerId,
        team_id: o.teamId, renewal_policy_id: o.renewalPolicyId, certificate_profile_id: o.profileId, environment: o.environment, tags: o.tag,
      });
      const triggered = o.issue ? await client.renewCertificate(certificate.id) : undefined;
      const [job] = triggered && o.wait ? await waitForJobs(client, io, [triggered.job_id], o.waitTimeout * 1000) : [];
      if (run.format === 'json') return printJson(io, { certificate, ...(triggered ? { job_id: triggered.job_id } : {}), ...(job ? { job } : {}) });
      io.out(`created certificate ${certificate.id} (${certificate.name}, ${certificate.status})\n`);
      if (triggered) io.out(`issuance started: job ${triggered.job_id}${job ? ` ${job.status}${job.last_error ? `: ${job.last_error}` : ''}` : ''}\n`);
      if (job && job.status !== 'Completed') throw new CommandFailed(`issuance job ${job.id} is ${job.status}`);
    }));

  certs.command('get <id>')
    .description('show one certificate')
    .action(handler(io, env, async (run) => {
      const certificate = await run.client().getCertificate(run.args[0]);
      if (run.format === 'json') return printJson(io, certificate);
      io.out(`${renderRecord({ ...certificate })}\n`);
    }));

  certs.command('renew <id>')
    .description('start an issuance or renewal job (202)')
    .option('--force', 'cancel an open job and start a new one')
    .action(handler(io, env, async (run) => {
      const triggered = await run.client().renewCertificate(run.args[0], { force: run.opts.force === true });
      if (run.format === 'json') return printJson(io, triggered);
      io.out(`renewal triggered for ${run.args[0]}: job ${triggered.job_id} (${triggered.job_status ?? 'Pending'})\n`);
    }));

  certs.command('revoke <id>')
    .description('revoke a certificate')
    .addOption(new Option('--reason <reason>', 'RFC 5280 reason').choices(REVOCATION_REASONS).default('unspecified'))
    .action(handler(io, env, async (run) => {
      const reason = run.opts.reason as RevocationReason;
      const result = await run.client().revokeCertificate(run.args[0], reason);
      if (run.format === 'json') return printJson(io, result);
      io.out(`certificate ${run.args[0]} revoked (${reason})\n`);
    }));

  withBulkCriteria(certs.command('bulk-revoke')
    .description('revoke every certificate matching the criteria (at least one); asks first unless --yes'))
    .addOption(new Option('--reason <reason>', 'RFC 5280 reason, for every certificate').choices(REVOCATION_REASONS).default('unspecified'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const criteria = bulkCriteriaOf(o);
      const reason = o.reason as RevocationReason;
      const described = describeCriteria(criteria);
      // Without criteria the api refuses (400) and says which ones it takes: nothing to confirm.
      if (described && !o.yes) {
        const answer = await io.ask(`Revoke every certificate matching ${described} (reason ${reason})? This cannot be undone. [y/N] `);
        if (!/^y(es)?$/i.test(answer?.trim() ?? '')) throw new CommandFailed('bulk revoke not confirmed; nothing was revoked (--yes skips the question)');
      }
      const result = await run.client().bulkRevoke(criteria, reason);
      if (run.format === 'json') printJson(io, result);
      else io.out(`${renderBulkRevoke(result)}\n`);
      const errors = result.errors ?? [];
      if (errors.length) {
        throw new CommandFailed(`${errors.length} of the matched certificates could not be revoked (first: ${errors[0].certificate_id}: ${errors[0].error})`);
      }
    }));

  certs.command('export <id>')
    .description('the current certificate and chain as PEM (never a private key)')
    .option('--out <file>', 'write the PEM to this file instead of stdout')
    .action(handler(io, env, async (run) => {
      const pem = await run.client().exportPem(run.args[0]);
      if (run.opts.out) {
        writeFileSync(run.opts.out, pem.full_pem, { mode: 0o644 });
        if (run.format === 'json') return printJson(io, { ...pem, written_to: run.opts.out });
        io.out(`wrote ${run.opts.out} (serial ${pem.serial_number ?? '-'}, SHA-256 ${pem.fingerprint_sha256 ?? '-'})\n`);
        return;
      }
      if (run.format === 'json') return printJson(io, pem);
      io.out(pem.full_pem.endsWith('\n') ? pem.full_pem : `${pem.full_pem}\n`);
    }));

  return certs;
}

/** The criteria given, as `team_id=t-1, owner_id=o-2` ('' when none). */
function describeCriteria(criteria: BulkCriteria): string {
  return Object.entries(criteria)
    .filter(([, value]) => value !== undefined && !(Array.isArray(value) && !value.length))
    .map(([name, value]) => `${name}=${Array.isArray(value) ? value.join(',') : value}`)
    .join(', ');
}

/** The counts as a one-row table, then the certificates that failed with the api's reason. */
function renderBulkRevoke(result: BulkRevokeResult): string {
  const counts = renderTable([result], [
    { header: 'MATCHED', value: (r) => r.total_matched }, { header: 'REVOKED', value: (r) => r.total_revoked },
    { header: 'SKIPPED', value: (r) => r.total_skipped }, { header: 'FAILED', value: (r) => r.total_failed },
  ]);
  const errors = result.errors ?? [];
  if (!errors.length) return counts;
  return `${counts}\n\n${renderTable(errors, [{ header: 'CERTIFICATE', value: (e) => e.certificate_id }, { header: 'ERROR', value: (e) => e.error }])}`;
}
