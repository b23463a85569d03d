import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { CertctlClient } from '@certctl/client';
import { call, cell, ok } from '../result';
import { id, notificationOutput, pageInput, pageOutput } from './schemas';

const NOTIFICATION_STATUSES = ['pending', 'sent', 'failed', 'dead', 'read', 'skipped'] as const;
const CHANNELS = ['Email', 'Slack', 'Teams', 'PagerDuty', 'OpsGenie', 'Webhook'] as const;

export function registerNotificationTools(server: McpServer, client: CertctlClient): void {
  server.registerTool('certctl_list_notifications', {
    title: 'List notifications',
    description: 'List alerts and their delivery state; status "dead" is the dead-letter list (delivery gave up after the last retry).',
    inputSchema: {
      status: z.enum(NOTIFICATION_STATUSES).optional(),
      type: z.string().max(64).optional().describe('e.g. ExpirationWarning, RenewalFailure, DeploymentFailure'),
      channel: z.enum(CHANNELS).optional(),
      certificate_id: z.string().max(128).optional(),
      ...pageInput,
    },
    outputSchema: pageOutput(notificationOutput),
    annotations: { readOnlyHint: true },
  }, (input) => call(async () => {
    const page = await client.listNotifications(input);
    return ok(page, `${page.total} notification${page.total === 1 ? '' : 's'}${input.status ? ` with status ${input.status}` : ''}; ${page.data.length} shown.`,
      page.data.map((n) => `${n.id}  ${n.type}  ${n.channel}  ${n.status}  retries ${cell(n.retry_count)}  certificate ${cell(n.certificate_id)}  last error ${cell(n.last_error)}`));
  }));

  server.registerTool('certctl_requeue_notification', {
    title: 'Requeue a notification',
    description: 'Send a dead or failed notification again (back to pending, counters reset). 409 for any other status.',
    inputSchema: { id: id('notification') },
    outputSchema: notificationOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  }, ({ id: notificationId }) => call(async () => {
    const n = await client.requeueNotification(notificationId);
    return ok(n, `Notification ${n.id} requeued: now ${n.status}.`);
  }));

  server.registerTool('certctl_requeue_dead_notifications', {
    title: 'Requeue dead notifications',
    description: 'Requeue every dead notification, optionally only those of a type, channel or certificate.',
    inputSchema: {
      type: z.string().max(64).optional(),
      channel: z.enum(CHANNELS).optional(),
      certificate_id: z.string().max(128).optional(),
    },
    outputSchema: z.looseObject({ total_matched: z.number(), total_requeued: z.number(), total_skipped: z.number(), notification_ids: z.array(z.string()).optional() }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  }, (filter) => call(async () => {
    const result = await client.requeueDeadNotifications(filter);
    return ok(result, `Requeued ${result.total_requeued} of ${result.total_matched} dead notifications.`);
  }));
}
