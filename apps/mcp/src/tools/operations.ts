import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { CertctlClient } from '@certctl/client';
import { call, cell, ok } from '../result';
import { id, jobOutput, pageInput, pageOutput, scanOutput } from './schemas';

const JOB_STATUSES = ['Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running', 'Completed', 'Failed', 'Cancelled'] as const;

export function registerOperationTools(server: McpServer, client: CertctlClient): void {
  server.registerTool('certctl_get_summary', {
    title: 'Dashboard summary',
    description: 'Counts of certificates by status, agents, jobs and dead notifications (certctl DashboardSummary).',
    inputSchema: {},
    outputSchema: z.looseObject({ total_certificates: z.number(), expiring_certificates: z.number(), expired_certificates: z.number(), notifications_dead: z.number().optional() }),
    annotations: { readOnlyHint: true },
  }, () => call(async () => {
    const s = await client.summary();
    return ok(s, `${s.total_certificates} certificates: ${s.active_certificates} active, ${s.expiring_certificates} expiring, ${s.expired_certificates} expired`
      + `, ${s.revoked_certificates ?? 0} revoked. Agents ${s.active_agents ?? 0}/${s.total_agents} online. Jobs: ${s.pending_jobs ?? 0} pending`
      + `, ${s.running_jobs ?? 0} running, ${s.failed_jobs ?? 0} failed. Dead notifications: ${s.notifications_dead ?? 0}.`);
  }));

  server.registerTool('certctl_verify_audit_chain', {
    title: 'Verify the audit trail',
    description: 'Walk the hash chain of the audit trail; names the first row that was changed or removed.',
    inputSchema: {},
    outputSchema: z.looseObject({ intact: z.boolean(), rows_checked: z.number(), first_break: z.looseObject({ reason: z.string() }).nullish() }),
    annotations: { readOnlyHint: true },
  }, () => call(async () => {
    const v = await client.verifyAudit();
    const at = v.first_break;
    return ok(v, v.intact ? `Audit chain intact: ${v.rows_checked} rows checked.`
      : `Audit chain BROKEN at row ${at?.seq ?? '?'} (${at?.id ?? 'unknown id'}) after ${v.rows_checked} rows.`, at ? [`reason ${cell(at.reason)}`] : []);
  }));

  server.registerTool('certctl_trigger_network_scan', {
    title: 'Scan a network target',
    description: 'Start a discovery scan of a network scan target now; follow it with certctl_get_discovery_scan.',
    inputSchema: { target_id: id('network scan target') },
    outputSchema: z.looseObject({ scan_id: z.string(), scan: scanOutput.optional() }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, ({ target_id }) => call(async () => {
    const started = await client.startNetworkScan(target_id);
    return ok(started, `Scan ${started.scan_id} started for target ${target_id}.`);
  }));

  server.registerTool('certctl_get_discovery_scan', {
    title: 'Discovery scan progress',
    description: 'Progress and outcome of a discovery scan: addresses done/total, certificates found, errors by kind.',
    inputSchema: { id: id('discovery scan') },
    outputSchema: scanOutput,
    annotations: { readOnlyHint: true },
  }, ({ id: scanId }) => call(async () => {
    const s = await client.getDiscoveryScan(scanId);
    return ok(s, `Scan ${s.id}: ${s.status}, ${s.addresses_done ?? 0}/${s.addresses_total ?? 0} addresses (${s.progress_percent ?? 0}%), `
      + `${s.certificates_found ?? 0} certificates found, ${s.errors_count ?? 0} errors.`, s.last_error ? [`last error ${cell(s.last_error)}`] : []);
  }));

  server.registerTool('certctl_list_jobs', {
    title: 'List jobs',
    description: 'Issuance, renewal and deployment jobs, e.g. those AwaitingApproval or Failed.',
    inputSchema: {
      status: z.enum(JOB_STATUSES).optional(),
      type: z.enum(['Issuance', 'Renewal', 'Deployment']).optional(),
      certificate_id: z.string().max(128).optional(),
      ...pageInput,
    },
    outputSchema: pageOutput(jobOutput),
    annotations: { readOnlyHint: true },
  }, (input) => call(async () => {
    const page = await client.listJobs(input);
    return ok(page, `${page.total} job${page.total === 1 ? '' : 's'}; ${page.data.length} shown.`,
      page.data.map((j) => `${j.id}  ${j.type}  ${j.certificate_id}  ${j.status}  last error ${cell(j.last_error)}`));
  }));
}
