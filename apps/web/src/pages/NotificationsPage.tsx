import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { NotificationEvent, Page } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';
import { useUrlState } from '../components/url-state';
import { Table } from '../components/table';

/**
 * "Retry n/budget": the budget is the server's own (CERTCTL_NOTIFICATION_MAX_ATTEMPTS, sent as `max_attempts`);
 * a server that does not send it gets no made-up number.
 */
export function deliveryAttempts(n: Pick<NotificationEvent, 'retry_count' | 'max_attempts'>): string {
  const tries = n.retry_count ?? 0;
  return n.max_attempts ? `Retry ${tries}/${n.max_attempts}` : `Retry ${tries}`;
}

const ERROR_PREVIEW_CHARS = 60;
const PER_PAGE = 25;
const CHANNELS = ['Email', 'Slack', 'Teams', 'PagerDuty', 'OpsGenie', 'Webhook'];
const TYPES = ['ExpirationWarning', 'RenewalSuccess', 'RenewalFailure', 'DeploymentSuccess', 'DeploymentFailure', 'PolicyViolation', 'Revocation', 'Digest'];

interface BulkRequeueResult {
  total_matched: number;
  total_requeued: number;
}

export function truncate(text: string, max = ERROR_PREVIEW_CHARS): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** All notifications, or the dead letter (events the notifier gave up on), with requeue. */
export function NotificationsPage() {
  const { values, page, set } = useUrlState(['tab', 'channel', 'type', 'status'] as const);
  const dead = values.tab === 'dead';
  const filter = { channel: values.channel || undefined, type: values.type || undefined };
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  useDocumentTitle(dead ? 'Dead letter' : 'Notifications');

  const list = useQuery({
    queryKey: ['notifications', 'list', { ...filter, dead, status: values.status, page }],
    queryFn: () =>
      api.get<Page<NotificationEvent>>('/notifications', { ...filter, status: dead ? 'dead' : values.status || undefined, page, per_page: PER_PAGE }),
  });
  // The tab labels carry the counts for the current filter.
  const deadCount = useQuery({
    queryKey: ['notifications', 'count', { ...filter, status: 'dead' }],
    queryFn: () => api.get<Page<NotificationEvent>>('/notifications', { ...filter, status: 'dead', per_page: 1 }),
  });
  const allCount = useQuery({
    queryKey: ['notifications', 'count', { ...filter }],
    queryFn: () => api.get<Page<NotificationEvent>>('/notifications', { ...filter, per_page: 1 }),
  });

  const refresh = () => queryClient.invalidateQueries({ queryKey: ['notifications'] });
  const requeueOne = useMutation({
    mutationFn: (id: string) => api.post<NotificationEvent>(`/notifications/${encodeURIComponent(id)}/requeue`),
    onSuccess: (event) => {
      toast.success(`Notification ${event.id} requeued`);
      void refresh();
    },
    onError: toast.error,
  });
  const requeueAll = useMutation({
    mutationFn: () => api.post<BulkRequeueResult>('/notifications/bulk-requeue', filter),
    onSuccess: (result) => {
      toast.success(`${result.total_requeued} of ${result.total_matched} dead notifications requeued`);
      void refresh();
    },
    onError: toast.error,
  });

  const rows = list.data?.data ?? [];
  const deadTotal = deadCount.data?.total;
  return (
    <section aria-labelledby="notifications-title">
      <h1 id="notifications-title">Notifications</h1>
      <div role="tablist" aria-label="Notification lists" className="tabs">
        <button type="button" role="tab" id="tab-all" aria-selected={!dead} aria-controls="notifications-panel" onClick={() => set({ tab: undefined, status: undefined })}>
          All{allCount.data ? ` (${allCount.data.total})` : ''}
        </button>
        <button type="button" role="tab" id="tab-dead" aria-selected={dead} aria-controls="notifications-panel" onClick={() => set({ tab: 'dead', status: undefined })}>
          Dead letter{deadTotal !== undefined ? ` (${deadTotal})` : ''}
        </button>
      </div>

      <div className="filters">
        <label>
          Channel
          <select value={values.channel} onChange={(e) => set({ channel: e.target.value })}>
            <option value="">Any</option>
            {CHANNELS.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Type
          <select value={values.type} onChange={(e) => set({ type: e.target.value })}>
            <option value="">Any</option>
            {TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        {!dead && (
          <label>
            Status
            <select value={values.status} onChange={(e) => set({ status: e.target.value })}>
              <option value="">Any</option>
              {['pending', 'sent', 'failed', 'dead', 'read'].map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
        )}
        {dead && (
          <Can permission="notification.edit" scope="any">
            <button
              type="button"
              className="danger"
              disabled={!deadTotal || requeueAll.isPending}
              onClick={() =>
                confirm.ask({
                  title: 'Requeue dead notifications',
                  confirmLabel: `Requeue ${deadTotal}`,
                  children: <p>All {deadTotal} dead notifications matching this filter go back to the delivery queue with their retry counter reset.</p>,
                  onConfirm: () => requeueAll.mutate(),
                })
              }
            >
              Requeue all {deadTotal ?? ''} matching
            </button>
          </Can>
        )}
      </div>

      <div id="notifications-panel" role="tabpanel" aria-labelledby={dead ? 'tab-dead' : 'tab-all'}>
        <QueryState isLoading={list.isLoading} error={list.error} isEmpty={rows.length === 0} empty={dead ? 'The dead letter is empty.' : 'No notifications.'}>
          <Table label="Notifications">
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Type</th>
                <th scope="col">Channel</th>
                <th scope="col">Recipient</th>
                <th scope="col">Status</th>
                <th scope="col">Delivery</th>
                <th scope="col">Last error</th>
                {dead && <th scope="col"><span className="sr-only">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((n) => {
                const lastError = n.last_error ?? n.error ?? '';
                return (
                  <tr key={n.id} data-testid={`notification-${n.id}`}>
                    <td><RelativeTime iso={n.created_at} /></td>
                    <td>{n.type}</td>
                    <td>{n.channel}</td>
                    <td className="truncate" title={n.recipient}>{n.recipient || '—'}</td>
                    <td><StatusBadge status={n.status} /></td>
                    <td>
                      {n.status === 'sent' ? <RelativeTime iso={n.sent_at} /> : deliveryAttempts(n)}
                    </td>
                    <td>
                      {lastError ? (
                        <span className="error-text" title={lastError} tabIndex={0} aria-label={`Last error: ${lastError}`}>
                          {truncate(lastError)}
                        </span>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                    {dead && (
                      <td>
                        <Can permission="notification.edit" scope="any">
                          <button type="button" onClick={() => requeueOne.mutate(n.id)} disabled={requeueOne.isPending} aria-label={`Requeue notification ${n.id}`}>
                            Requeue
                          </button>
                        </Can>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </Table>
          <Pager page={page} perPage={PER_PAGE} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
        </QueryState>
      </div>
      {confirm.dialog}
    </section>
  );
}
