import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiSourceProcess } from '../../../../test/support/api-source-process';
import { location, recordRequests, renderApp } from '../testing/render-app';

describe('sign-in, sign-out on 401 and role hiding, against the real api', () => {
  let api: ApiSourceProcess;
  let viewerKey: string;
  let auditorKey: string;

  beforeAll(async () => {
    api = await ApiSourceProcess.start();
    viewerKey = await api.createKey('viewer');
    auditorKey = await api.createKey('auditor');
  });
  afterAll(async () => api?.stop());
  afterEach(() => {
    cleanup();
    sessionStorage.clear();
  });

  const navLinks = () => within(screen.getByRole('navigation', { name: 'Main' })).getAllByRole('link').map((a) => a.textContent);

  it('a signed-out visit goes to the login page; a wrong key is refused; the right one returns to the page asked for', async () => {
    const requests = recordRequests();
    try {
      renderApp('/notifications?tab=dead', api.baseUrl, null);
      const input = await screen.findByLabelText('API key');
      expect(location.current).toBe('/login');

      await userEvent.type(input, 'not-a-real-key-0000000000');
      await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
      expect((await screen.findByRole('alert')).textContent).toBe('That API key was not accepted.');
      expect(sessionStorage.length).toBe(0);

      await userEvent.clear(input);
      await userEvent.type(input, api.adminKey);
      await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
      await screen.findByRole('heading', { name: 'Notifications' });
      expect(location.current).toBe('/notifications?tab=dead');
      expect(Object.values(sessionStorage)).toEqual([api.adminKey]);
    } finally {
      requests.restore();
    }
    // The key travels only in the Authorization header, never in a URL.
    expect(requests.calls.length).toBeGreaterThan(0);
    expect(requests.calls.some((c) => c.includes(api.adminKey))).toBe(false);
  });

  it('a key revoked while signed in sends the tab back to the login page on its next request', async () => {
    const operatorKey = await api.createKey('operator');
    renderApp('/notifications', api.baseUrl, operatorKey);
    await screen.findByRole('heading', { name: 'Notifications' });
    const { data } = await api.call<{ data: Array<{ id: string; role: string; revoked_at?: string | null }> }>('GET', '/auth/keys');
    const operator = data.find((k) => k.role === 'operator' && !k.revoked_at)!;
    await api.call('DELETE', `/auth/keys/${operator.id}`);

    await userEvent.click(screen.getByRole('tab', { name: /Dead letter/ }));
    await screen.findByLabelText('API key');
    expect(location.current).toBe('/login');
    expect(sessionStorage.length).toBe(0);
  });

  it('an admin sees the mutating controls (New certificate, New issuer) and Settings', async () => {
    renderApp('/certificates', api.baseUrl, api.adminKey);
    expect(await screen.findByRole('button', { name: 'New certificate' })).toBeTruthy();
    expect(navLinks()).toContain('Settings');
    cleanup();
    renderApp('/issuers', api.baseUrl, api.adminKey);
    expect(await screen.findByRole('button', { name: 'New issuer' })).toBeTruthy();
  });

  it('a viewer sees the inventory but no mutating control', async () => {
    renderApp('/certificates', api.baseUrl, viewerKey);
    await screen.findByRole('heading', { name: 'Certificates' });
    await waitFor(() => expect(navLinks()).toContain('Audit'));
    expect(screen.queryByRole('button', { name: 'New certificate' })).toBeNull();
    expect(screen.queryByRole('checkbox')).toBeNull();
    cleanup();

    renderApp('/issuers', api.baseUrl, viewerKey);
    await screen.findByRole('heading', { name: 'Issuers' });
    await waitFor(() => expect(navLinks()).toContain('Audit')); // the key's access is known
    expect(screen.queryByRole('button', { name: 'New issuer' })).toBeNull();
    cleanup();

    renderApp('/settings', api.baseUrl, viewerKey);
    await screen.findByRole('heading', { name: 'Settings' });
    await waitFor(() => expect(navLinks()).toContain('Audit'));
    expect(screen.queryByRole('heading', { name: 'API keys' })).toBeNull();
  });

  it('an auditor is taken to the audit trail and sees only it', async () => {
    renderApp('/', api.baseUrl, auditorKey);
    await screen.findByRole('heading', { name: 'Audit trail' }, { timeout: 10_000 });
    expect(location.current).toBe('/audit');
    expect(navLinks()).toEqual(['Audit']);
  });
});
