import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeAll, describe, expect, it } from 'vitest';
import { recordRequests, renderApp } from '../testing/render-app';
import { withRealApi } from '../testing/real-api';
import { truncate } from './NotificationsPage';

const LONG_ERROR = 'webhook delivery failed: connect ECONNREFUSED 127.0.0.1:9 after 5 attempts; the endpoint did not accept the connection and the notifier gave up';

describe('NotificationsPage against the real api', () => {
  const real = withRealApi();
  let viewerKey: string;

  beforeAll(async () => {
    viewerKey = await real.api.createKey('viewer');
  });

  async function seed(rows: Array<{ id: string; channel: string; status: string; retry?: number; error?: string }>) {
    await real.db.query('DELETE FROM notification_events');
    for (const r of rows) {
      await real.db.query(
        `INSERT INTO notification_events (id, type, channel, recipient, message, status, retry_count, last_error)
         VALUES ($1, 'ExpirationWarning', $2, 'https://hooks.example.test/x', 'expiring soon', $3, $4, $5)`,
        [r.id, r.channel, r.status, r.retry ?? 0, r.error ?? null],
      );
    }
  }

  it('the All tab lists every notification; the Dead letter tab only dead ones, with "Retry n/5" and the counts', async () => {
    await seed([
      { id: 'n-dead-1', channel: 'Webhook', status: 'dead', retry: 5, error: LONG_ERROR },
      { id: 'n-sent-1', channel: 'Email', status: 'sent' },
      { id: 'n-pending-1', channel: 'Slack', status: 'pending', retry: 2, error: 'slack said 500' },
    ]);
    renderApp('/notifications', real.api.baseUrl, real.api.adminKey);
    expect(await screen.findByTestId('notification-n-sent-1')).toBeTruthy();
    expect(screen.getByTestId('notification-n-pending-1').textContent).toContain('Retry 2/5');
    expect(screen.getByTestId('notification-n-dead-1')).toBeTruthy();
    await waitFor(() => expect(screen.getByRole('tab', { name: /Dead letter/ }).textContent).toBe('Dead letter (1)'));
    // Each tab's count comes from its own query: wait for both.
    await waitFor(() => expect(screen.getByRole('tab', { name: /All/ }).textContent).toBe('All (3)'));

    await userEvent.click(screen.getByRole('tab', { name: /Dead letter/ }));
    await waitFor(() => expect(screen.queryByTestId('notification-n-sent-1')).toBeNull());
    expect(screen.getByRole('tab', { name: /Dead letter/ }).getAttribute('aria-selected')).toBe('true');
    const dead = await screen.findByTestId('notification-n-dead-1');
    expect(dead.textContent).toContain('Retry 5/5');
    expect(screen.queryByTestId('notification-n-pending-1')).toBeNull();
  });

  it('a dead row shows its last error truncated, with the full text on hover (title)', async () => {
    await seed([{ id: 'n-dead-err', channel: 'Webhook', status: 'dead', retry: 5, error: LONG_ERROR }]);
    renderApp('/notifications?tab=dead', real.api.baseUrl, real.api.adminKey);
    const row = await screen.findByTestId('notification-n-dead-err');
    const error = within(row).getByTitle(LONG_ERROR);
    expect(error.textContent).toBe(truncate(LONG_ERROR));
    expect(error.textContent!.length).toBeLessThan(LONG_ERROR.length);
    expect(error.textContent!.endsWith('…')).toBe(true);
  });

  it('Requeue sends exactly this id, the row leaves the dead letter and the count drops', async () => {
    await seed([
      { id: 'n-dead-a', channel: 'Webhook', status: 'dead', retry: 5, error: 'refused' },
      { id: 'n-dead-b', channel: 'Webhook', status: 'dead', retry: 5, error: 'refused' },
    ]);
    renderApp('/notifications?tab=dead', real.api.baseUrl, real.api.adminKey);
    await screen.findByTestId('notification-n-dead-b');
    await waitFor(() => expect(screen.getByRole('tab', { name: /Dead letter/ }).textContent).toBe('Dead letter (2)'));
    const requests = recordRequests();
    try {
      await userEvent.click(screen.getByRole('button', { name: 'Requeue notification n-dead-b' }));
      await waitFor(() => expect(screen.queryByTestId('notification-n-dead-b')).toBeNull());
    } finally {
      requests.restore();
    }
    const posts = requests.calls.filter((c) => c.startsWith('POST'));
    expect(posts).toEqual([`POST ${real.api.baseUrl}/api/v1/notifications/n-dead-b/requeue`]);
    const { rows } = await real.db.query(`SELECT id, status, retry_count FROM notification_events ORDER BY id`);
    expect(rows).toEqual([
      { id: 'n-dead-a', status: 'dead', retry_count: 5 },
      { id: 'n-dead-b', status: 'pending', retry_count: 0 },
    ]);
    await waitFor(() => expect(screen.getByRole('tab', { name: /Dead letter/ }).textContent).toBe('Dead letter (1)'));
    expect(screen.getByTestId('notification-n-dead-a')).toBeTruthy();
  });

  it('"Requeue all matching" (after confirming) requeues only the dead rows of the current filter', async () => {
    await seed([
      { id: 'n-hook-1', channel: 'Webhook', status: 'dead', retry: 5 },
      { id: 'n-hook-2', channel: 'Webhook', status: 'dead', retry: 5 },
      { id: 'n-mail-1', channel: 'Email', status: 'dead', retry: 5 },
    ]);
    renderApp('/notifications?tab=dead&channel=Webhook', real.api.baseUrl, real.api.adminKey);
    await screen.findByTestId('notification-n-hook-2');
    expect(screen.queryByTestId('notification-n-mail-1')).toBeNull();
    const requeueAll = await screen.findByRole('button', { name: 'Requeue all 2 matching' });
    await userEvent.click(requeueAll);
    const dialog = screen.getByRole('dialog');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Requeue 2' }));
    await screen.findByText('The dead letter is empty.');
    const { rows } = await real.db.query(`SELECT id, status FROM notification_events ORDER BY id`);
    expect(rows).toEqual([
      { id: 'n-hook-1', status: 'pending' },
      { id: 'n-hook-2', status: 'pending' },
      { id: 'n-mail-1', status: 'dead' },
    ]);
  });

  it('a viewer sees the dead letter without any Requeue control', async () => {
    await seed([{ id: 'n-dead-v', channel: 'Webhook', status: 'dead', retry: 5, error: 'refused' }]);
    renderApp('/notifications?tab=dead', real.api.baseUrl, viewerKey);
    const row = await screen.findByTestId('notification-n-dead-v');
    expect(row.textContent).toContain('Retry 5/5');
    await waitFor(() => expect(screen.getByRole('tab', { name: /Dead letter/ }).textContent).toBe('Dead letter (1)'));
    // Once the key's access is known (the nav shows what a viewer may open), there is still no Requeue control.
    await screen.findByRole('link', { name: 'Audit' });
    expect(screen.queryByRole('link', { name: 'Settings' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Requeue/ })).toBeNull();
  });
});
