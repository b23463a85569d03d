import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../testing/render-app';
import { withRealApi } from '../testing/real-api';

describe('JobsPage against the real api', () => {
  const real = withRealApi();

  it('a renewal waiting for its CA budget says so, with when it runs again', async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    const team = await real.api.call<{ id: string }>('POST', '/teams', { name: `team-${suffix}` });
    const owner = await real.api.call<{ id: string }>('POST', '/owners', { name: `owner-${suffix}`, email: 'o@example.com', team_id: team.id });
    const issuer = await real.api.call<{ id: string }>('POST', '/issuers', { name: `ca-${suffix}`, type: 'GenericCA', config: { rate_limits: [{ name: 'orders', limit: 1, window_seconds: 3600, per: 'account' }] } });
    const cert = await real.api.call<{ id: string }>('POST', '/certificates', {
      name: `svc-${suffix}.example.com`, common_name: `svc-${suffix}.example.com`, environment: 'prod', owner_id: owner.id, team_id: team.id, issuer_id: issuer.id,
    });
    // The row as the orchestrator leaves a job over its issuer's budget.
    await real.db.query(
      `INSERT INTO jobs (id, type, certificate_id, status, scheduled_at, wait_reason)
       VALUES ('job-budget-wait', 'Renewal', $1, 'Pending', now() + interval '40 minutes', $2),
              ('job-plain', 'Renewal', $1, 'Completed', now(), NULL)`,
      [cert.id, `waiting for CA budget: orders of issuer ${issuer.id} frees at 2099-01-01T00:00:00.000Z`],
    );
    renderApp('/jobs', real.api.baseUrl, real.api.adminKey);
    const waiting = await screen.findByTestId('job-job-budget-wait');
    expect(waiting.textContent).toContain('waiting for CA budget');
    expect(waiting.textContent).toMatch(/waiting for CA budget until in (39|40) minutes/);
    expect(waiting.querySelector(`[title^="waiting for CA budget: orders of issuer ${issuer.id}"]`)).toBeTruthy();
    expect((await screen.findByTestId('job-job-plain')).textContent).not.toContain('waiting');
  });
});
