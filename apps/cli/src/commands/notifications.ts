import { Command } from 'commander';
import type { Notification } from '@certctl/client';
import { CliUsageError, handler, positiveInt } from '../context';
import { Column, Io, printJson, printPage } from '../output';

const NOTIFICATION_COLUMNS: Column<Notification>[] = [
  { header: 'ID', value: (n) => n.id },
  { header: 'TYPE', value: (n) => n.type },
  { header: 'CHANNEL', value: (n) => n.channel },
  { header: 'STATUS', value: (n) => n.status },
  { header: 'RETRIES', value: (n) => n.retry_count },
  { header: 'CERTIFICATE', value: (n) => n.certificate_id },
  { header: 'CREATED', value: (n) => n.created_at },
  { header: 'LAST ERROR', value: (n) => n.last_error },
];

export function notificationsCommand(io: Io, env: Record<string, string | undefined>): Command {
  const notifications = new Command('notifications').description('alerts and their delivery (incl. the dead-letter list)');

  notifications.command('list')
    .description('list notifications; --status dead shows the dead-letter list')
    .option('--status <status>', 'pending, sent, failed, dead, read')
    .option('--type <type>', 'e.g. ExpirationWarning, RenewalFailure')
    .option('--channel <channel>', 'Email, Slack, Teams, PagerDuty, OpsGenie, Webhook')
    .option('--certificate-id <id>')
    .option('--page <n>', 'page number', positiveInt)
    .option('--per-page <n>', 'rows per page (max 500)', positiveInt)
    .action(handler(io, env, async (run) => {
      const o = run.opts;
      const page = await run.client().listNotifications({
        status: o.status, type: o.type, channel: o.channel, certificate_id: o.certificateId, page: o.page, per_page: o.perPage,
      });
      printPage(io, run.format, page, NOTIFICATION_COLUMNS, 'notification');
    }));

  notifications.command('requeue [id]')
    .description('send a dead or failed notification again, or every dead one with --all-dead')
    .option('--all-dead', 'requeue every dead notification (narrow with --type/--channel/--certificate-id)')
    .option('--type <type>', 'with --all-dead: only this type')
    .option('--channel <channel>', 'with --all-dead: only this channel')
    .option('--certificate-id <id>', 'with --all-dead: only this certificate')
    .action(handler(io, env, async (run) => {
      const [id] = run.args;
      const o = run.opts;
      if (!id === !o.allDead) throw new CliUsageError('give a notification id or --all-dead (not both)');
      if (id && (o.type || o.channel || o.certificateId)) throw new CliUsageError('--type, --channel and --certificate-id go with --all-dead');
      if (id) {
        const requeued = await run.client().requeueNotification(id);
        if (run.format === 'json') return printJson(io, requeued);
        io.out(`notification ${requeued.id} requeued: now ${requeued.status}\n`);
        return;
      }
      const result = await run.client().requeueDeadNotifications({ type: o.type, channel: o.channel, certificate_id: o.certificateId });
      if (run.format === 'json') return printJson(io, result);
      io.out(`requeued ${result.total_requeued} of ${result.total_matched} dead notification${result.total_matched === 1 ? '' : 's'}\n`);
    }));

  return notifications;
}
