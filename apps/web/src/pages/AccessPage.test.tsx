import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiSourceProcess } from '../../../../test/support/api-source-process';
import { renderApp } from '../testing/render-app';

/** Console controls follow /auth/me's effective permissions, and the Access page, against the real api. */
describe('permissions in the console and the Access page', () => {
  let api: ApiSourceProcess;
  let team: { id: string; name: string };

  beforeAll(async () => {
    api = await ApiSourceProcess.start();
    team = await api.call('POST', '/teams', { name: `payments-${Date.now()}` });
  });
  afterAll(async () => api?.stop());
  afterEach(() => {
    cleanup();
    sessionStorage.clear();
  });

  const navLinks = () => within(screen.getByRole('navigation', { name: 'Main' })).getAllByRole('link').map((a) => a.textContent);

  /** A key holding only `operator` within one team (its global role taken back). */
  async function teamOperatorKey(): Promise<{ id: string; key: string }> {
    const created = await api.call<{ id: string; key: string }>('POST', '/auth/keys', { name: `team-op-${Date.now()}`, role: 'viewer' });
    await api.call('POST', `/auth/keys/${created.id}/roles`, { role_id: 'r-operator', scope_type: 'team', scope_id: team.id });
    const res = await fetch(`${api.baseUrl}/api/v1/auth/keys/${created.id}/roles/r-viewer`, { method: 'DELETE', headers: { Authorization: `Bearer ${api.adminKey}` } });
    expect(res.status).toBe(204);
    return created;
  }

  it('a team-scoped operator is offered what it may do in its team (New certificate) and not what needs a global grant (New issuer, New team, Access)', async () => {
    const { key } = await teamOperatorKey();
    renderApp('/certificates', api.baseUrl, key);
    expect(await screen.findByRole('button', { name: 'New certificate' })).toBeTruthy();
    await waitFor(() => expect(navLinks()).toContain('Certificates'));
    expect(navLinks()).not.toContain('Access');
    expect(navLinks()).not.toContain('Policies'); // policy.read is checked globally
    cleanup();

    renderApp('/issuers', api.baseUrl, key);
    await screen.findByRole('heading', { name: 'Issuers' });
    await waitFor(() => expect(navLinks()).toContain('Issuers'));
    expect(screen.queryByRole('button', { name: 'New issuer' })).toBeNull();
    cleanup();

    renderApp('/teams', api.baseUrl, key);
    await screen.findByRole('heading', { name: 'Teams' });
    await waitFor(() => expect(navLinks()).toContain('Teams'));
    expect(screen.queryByRole('button', { name: 'New team' })).toBeNull();
  });

  it('an admin creates a custom role from checkboxes, grants it to a key within a team with an expiry, and takes it back; built-in roles are read-only', async () => {
    const target = await api.call<{ id: string; name: string }>('POST', '/auth/keys', { name: `grantee-${Date.now()}`, role: 'viewer' });
    const user = userEvent.setup();
    renderApp('/access', api.baseUrl, api.adminKey);
    await screen.findByRole('heading', { name: 'Access' });
    await waitFor(() => expect(navLinks()).toContain('Access'));
    const roles = await screen.findByTestId('role-rows');
    await within(roles).findByText('operator');
    expect(within(roles).queryByRole('button', { name: /Edit role (admin|operator|viewer)/ })).toBeNull();

    await user.click(screen.getByRole('button', { name: 'New role' }));
    const form = screen.getByRole('form', { name: 'New role' });
    // An empty name is refused by the server, with the field named.
    await user.click(within(form).getByRole('button', { name: 'Save role' }));
    expect((await within(form).findAllByRole('alert')).length).toBeGreaterThan(0);
    const roleName = `cert-reader-${Date.now()}`;
    await user.type(within(form).getByLabelText('Name'), roleName);
    await user.click(await within(form).findByRole('checkbox', { name: 'cert.read' }));
    await user.click(within(form).getByRole('checkbox', { name: 'cert.revoke' }));
    await user.click(within(form).getByRole('button', { name: 'Save role' }));
    await within(roles).findByText(roleName);
    const { roles: all } = await api.call<{ roles: Array<{ id: string; name: string; permissions: string[] }> }>('GET', '/auth/roles');
    const custom = all.find((r) => r.name === roleName)!;
    expect(custom.permissions).toEqual(['cert.read', 'cert.revoke']);

    await user.selectOptions(screen.getByLabelText('API key or user'), `keys:${target.id}`);
    const grantForm = await screen.findByRole('form', { name: 'Grant a role' });
    await user.selectOptions(within(grantForm).getByLabelText('Role'), custom.id);
    await user.selectOptions(within(grantForm).getByLabelText('Where'), 'team');
    await user.selectOptions(await within(grantForm).findByLabelText('Which team'), team.id);
    await user.type(within(grantForm).getByLabelText('Expires (optional)'), '2099-01-01T12:00');
    await user.click(within(grantForm).getByRole('button', { name: 'Grant' }));
    const grants = await screen.findByTestId('grant-rows');
    await within(grants).findByText(`team ${team.name}`);
    const held = await api.call<{ grants: Array<{ role_id: string; scope_type: string; scope_id: string; expires_at: string }> }>('GET', `/auth/keys/${target.id}/roles`);
    expect(held.grants.find((g) => g.role_id === custom.id)).toMatchObject({ scope_type: 'team', scope_id: team.id });

    await user.click(within(grants).getByRole('button', { name: `Take back ${roleName} (team ${team.name})` }));
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Take back' }));
    await waitFor(() => expect(within(screen.getByTestId('grant-rows')).queryByText(`team ${team.name}`)).toBeNull());
    const after = await api.call<{ grants: Array<{ role_id: string }> }>('GET', `/auth/keys/${target.id}/roles`);
    expect(after.grants.map((g) => g.role_id)).toEqual(['r-viewer']);

    // The role is in no grant now, so it can be deleted.
    await user.click(within(roles).getByRole('button', { name: `Delete role ${roleName}` }));
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(within(screen.getByTestId('role-rows')).queryByText(roleName)).toBeNull());
  });

  it('a viewer is not offered the Access page, and opening it by its address lists nothing', async () => {
    const key = await api.createKey('viewer');
    renderApp('/access', api.baseUrl, key);
    await screen.findByRole('heading', { name: 'Access' });
    await waitFor(() => expect(navLinks()).toContain('Certificates'));
    expect(navLinks()).not.toContain('Access');
    expect(screen.getByText('You may not list roles or grants.')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'New role' })).toBeNull();
  });
});
