import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../testing/render-app';
import { withRealApi } from '../testing/real-api';

/**
 * The Approvals page against the real api, with two keys: the requester sees its own requests without
 * Approve/Reject; another operator approves one (the job leaves AwaitingApproval) and rejects another with a note.
 */
describe('ApprovalsPage against the real api', () => {
  const real = withRealApi();

  async function heldRenewals(requesterKey: string, count: number): Promise<Array<{ approvalId: string; jobId: string }>> {
    const suffix = Math.random().toString(36).slice(2, 8);
    const team = await real.api.call<{ id: string }>('POST', '/teams', { name: `team-${suffix}` });
    const owner = await real.api.call<{ id: string }>('POST', '/owners', { name: `owner-${suffix}`, email: 'o@example.com', team_id: team.id });
    const issuer = await real.api.call<{ id: string }>('POST', '/issuers', { name: `ca-${suffix}`, type: 'GenericCA' });
    const profile = await real.api.call<{ id: string }>('POST', '/profiles', { name: `gated-${suffix}`, requires_approval: true });
    const held: Array<{ approvalId: string; jobId: string }> = [];
    for (let i = 0; i < count; i++) {
      const cert = await real.api.call<{ id: string }>('POST', '/certificates', {
        name: `svc-${suffix}-${i}.example.com`, common_name: `svc-${suffix}-${i}.example.com`, environment: 'prod', owner_id: owner.id, team_id: team.id,
        issuer_id: issuer.id, certificate_profile_id: profile.id,
      });
      const { job_id: jobId } = await real.api.call<{ job_id: string }>('POST', `/certificates/${cert.id}/renew`, {}, requesterKey);
      const { rows: [row] } = await real.db.query('SELECT id FROM issuance_approval_requests WHERE job_id = $1', [jobId]);
      held.push({ approvalId: row.id, jobId });
    }
    return held;
  }

  it('offers Approve/Reject to another operator only; approving releases the job, rejecting keeps the note', async () => {
    const requester = await real.api.createKey('operator');
    const approver = await real.api.createKey('operator');
    const [first, second] = await heldRenewals(requester, 2);

    renderApp('/approvals', real.api.baseUrl, requester);
    const own = await screen.findByTestId(`own-approval-${first!.approvalId}`);
    expect(own.textContent).toContain('another approver decides');
    expect(within(screen.getByTestId(`approval-${first!.approvalId}`)).queryByRole('button', { name: /Approve/ })).toBeNull();
    cleanup();

    renderApp('/approvals', real.api.baseUrl, approver);
    await userEvent.click(await screen.findByRole('button', { name: `Approve request ${first!.approvalId}` }));
    await waitFor(async () => {
      const { rows: [job] } = await real.db.query('SELECT status FROM jobs WHERE id = $1', [first!.jobId]);
      expect(job.status).not.toBe('AwaitingApproval');
    });
    await userEvent.click(await screen.findByRole('button', { name: `Reject request ${second!.approvalId}` }));
    await userEvent.type(screen.getByLabelText(/Note/), 'outside the change window');
    await userEvent.click(screen.getByRole('button', { name: 'Reject' }));
    await waitFor(async () => {
      const { rows: [request] } = await real.db.query('SELECT state, decision_note FROM issuance_approval_requests WHERE id = $1', [second!.approvalId]);
      expect(request).toEqual({ state: 'rejected', decision_note: 'outside the change window' });
    });
    // Decided requests leave the pending list.
    await waitFor(() => expect(screen.queryByTestId(`approval-${second!.approvalId}`)).toBeNull());
  });
});
