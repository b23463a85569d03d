import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { CertctlClient, REVOCATION_REASONS } from '@certctl/client';
import { call, cell, ok } from '../result';
import { certificateOutput, id, pageInput, pageOutput } from './schemas';

const CERTIFICATE_STATUSES = ['Pending', 'Active', 'Expiring', 'Expired', 'RenewalInProgress', 'Failed', 'Revoked', 'Archived'] as const;

export function registerCertificateTools(server: McpServer, client: CertctlClient): void {
  server.registerTool('certctl_list_certificates', {
    title: 'List certificates',
    description: 'List managed certificates; filters combine (status, environment, owner, team, issuer, profile, expiry window, free text over name, CN and SANs).',
    inputSchema: {
      status: z.enum(CERTIFICATE_STATUSES).optional(),
      environment: z.string().max(100).optional(),
      owner_id: z.string().max(128).optional(),
      team_id: z.string().max(128).optional(),
      issuer_id: z.string().max(128).optional(),
      profile_id: z.string().max(128).optional(),
      expires_before: z.iso.datetime({ offset: true }).optional().describe('RFC 3339; e.g. certificates expiring within 30 days'),
      expires_after: z.iso.datetime({ offset: true }).optional(),
      search: z.string().max(200).optional().describe('text in the name, common name or SANs'),
      sort: z.string().regex(/^-?[a-z_]+$/).optional().describe('field, "-" prefix for descending, e.g. expires_at'),
      ...pageInput,
    },
    outputSchema: pageOutput(certificateOutput),
    annotations: { readOnlyHint: true },
  }, (input) => call(async () => {
    const page = await client.listCertificates(input);
    return ok(page, `${page.total} certificate${page.total === 1 ? '' : 's'} match; ${page.data.length} shown (page ${page.page}).`,
      page.data.map((c) => `${c.id}  ${cell(c.common_name)}  ${c.status}  expires ${cell(c.expires_at)}  env ${cell(c.environment)}`));
  }));

  server.registerTool('certctl_get_certificate', {
    title: 'Get a certificate',
    description: 'One managed certificate with its owner, team, issuer, status, expiry, SANs and deployment targets.',
    inputSchema: { id: id('certificate') },
    outputSchema: certificateOutput,
    annotations: { readOnlyHint: true },
  }, ({ id: certificateId }) => call(async () => {
    const c = await client.getCertificate(certificateId);
    return ok(c, `Certificate ${c.id}: ${c.status}, expires ${cell(c.expires_at)}.`, [
      `name ${cell(c.name)}`, `common_name ${cell(c.common_name)}`, `sans ${cell(c.sans?.join(', '))}`,
      `owner ${cell(c.owner_id)}  team ${cell(c.team_id)}  issuer ${cell(c.issuer_id)}`, `targets ${cell(c.target_ids?.join(', '))}`,
    ]);
  }));

  server.registerTool('certctl_trigger_renewal', {
    title: 'Renew a certificate',
    description: 'Start an issuance (first time) or renewal job. Fails with 409 while a job is open unless force is true (which cancels it).',
    inputSchema: { id: id('certificate'), force: z.boolean().optional().describe('cancel an open job and start a new one') },
    outputSchema: z.looseObject({ status: z.string(), job_id: z.string(), job_status: z.string().optional() }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  }, ({ id: certificateId, force }) => call(async () => {
    const triggered = await client.renewCertificate(certificateId, { force });
    return ok(triggered, `Renewal triggered for ${certificateId}: job ${triggered.job_id} is ${triggered.job_status ?? 'Pending'}.`);
  }));

  server.registerTool('certctl_revoke_certificate', {
    title: 'Revoke a certificate',
    description: 'Revoke a certificate with an RFC 5280 reason. This cannot be undone.',
    inputSchema: { id: id('certificate'), reason: z.enum(REVOCATION_REASONS).default('unspecified') },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  }, ({ id: certificateId, reason }) => call(async () => {
    const result = await client.revokeCertificate(certificateId, reason);
    return ok(result ?? {}, `Certificate ${certificateId} revoked (${reason}).`);
  }));

  server.registerTool('certctl_bulk_revoke_certificates', {
    title: 'Revoke certificates in bulk',
    description: 'Revoke every certificate matching the criteria (they combine; give at least one) with one RFC 5280 reason. '
      + 'Already revoked or archived certificates are skipped. This cannot be undone: list the certificates first when unsure what matches.',
    inputSchema: {
      certificate_ids: z.array(id('certificate')).min(1).max(5000).optional().describe('explicit certificate ids'),
      profile_id: id('certificate profile').optional(),
      owner_id: id('owner').optional(),
      agent_id: id('agent').optional().describe('certificates deployed to this agent\'s targets'),
      issuer_id: id('issuer').optional(),
      team_id: id('team').optional(),
      reason: z.enum(REVOCATION_REASONS).default('unspecified'),
    },
    outputSchema: z.looseObject({
      total_matched: z.number(), total_revoked: z.number(), total_skipped: z.number(), total_failed: z.number(),
      errors: z.array(z.looseObject({ certificate_id: z.string(), error: z.string() })).optional(),
    }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  }, ({ reason, ...criteria }) => call(async () => {
    const result = await client.bulkRevoke(criteria, reason);
    return ok(result, `Bulk revoke (${reason}): ${result.total_matched} matched, ${result.total_revoked} revoked, `
      + `${result.total_skipped} skipped, ${result.total_failed} failed.`, (result.errors ?? []).map((e) => `${e.certificate_id}  ${cell(e.error)}`));
  }));
}
