import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { Certificate, Job, Page } from '../api/types';
import { Expiry, RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';

const SOON_DAYS = 30;

/** The certificates that expire next (within 30 days, not yet expired) and the newest jobs. */
export default function DashboardPanels() {
  const expiring = useQuery({
    queryKey: ['certificates', 'expiring-soon'],
    queryFn: () => {
      const now = Date.now();
      return api.get<Page<Certificate>>('/certificates', {
        expires_after: new Date(now).toISOString(), expires_before: new Date(now + SOON_DAYS * 86_400_000).toISOString(), sort: 'expires_at', per_page: 8,
      });
    },
    refetchInterval: 60_000,
  });
  const jobs = useQuery({ queryKey: ['jobs', 'recent'], queryFn: () => api.get<Page<Job>>('/jobs', { per_page: 8 }), refetchInterval: 15_000 });
  return (
    <div className="panels">
      <section className="card" aria-labelledby="expiring-soon-title">
        <h2 id="expiring-soon-title">Expiring soon</h2>
        <QueryState isLoading={expiring.isLoading} error={expiring.error} isEmpty={!expiring.data?.data.length} empty={`Nothing expires in the next ${SOON_DAYS} days.`}>
          <ul className="plain" data-testid="expiring-soon">
            {expiring.data?.data.map((c) => (
              <li key={c.id}><Link to={`/certificates/${encodeURIComponent(c.id)}`}>{c.name}</Link> <Expiry iso={c.expires_at} /></li>
            ))}
          </ul>
        </QueryState>
      </section>
      <section className="card" aria-labelledby="recent-jobs-title">
        <h2 id="recent-jobs-title">Recent jobs</h2>
        <QueryState isLoading={jobs.isLoading} error={jobs.error} isEmpty={!jobs.data?.data.length} empty="No jobs yet.">
          <ul className="plain" data-testid="recent-jobs">
            {jobs.data?.data.map((j) => (
              <li key={j.id}>
                <Link to={`/jobs/${encodeURIComponent(j.id)}`}>{j.type}</Link> {j.certificate_id && <span className="muted">{j.certificate_id}</span>} <StatusBadge status={j.status} /> <RelativeTime iso={j.created_at} />
              </li>
            ))}
          </ul>
        </QueryState>
      </section>
    </div>
  );
}

/** First steps on an empty inventory: each item is ticked once the thing exists. */
export function OnboardingChecklist() {
  const count = (path: string) => ({ queryKey: [path, 'onboarding-count'], queryFn: () => api.get<Page<unknown>>(path, { per_page: 1 }).then((p) => p.total) });
  const issuers = useQuery(count('/issuers'));
  const policies = useQuery(count('/policies'));
  const targets = useQuery(count('/targets'));
  const certificates = useQuery(count('/certificates'));
  const steps = [
    { done: (issuers.data ?? 0) > 0, to: '/issuers', text: 'Create an issuer: the CA that signs your certificates (a local CA, ACME, Vault…)' },
    { done: (policies.data ?? 0) > 0, to: '/policies', text: 'Create a policy: which domains, key types and lifetimes are allowed' },
    { done: (targets.data ?? 0) > 0, to: '/targets', text: 'Create a deployment target: where certificates are installed (files, NGINX, Kubernetes…)' },
    { done: (certificates.data ?? 0) > 0, to: '/certificates', text: 'Create a certificate and issue it' },
  ];
  return (
    <section className="card onboarding" aria-labelledby="onboarding-title" data-testid="onboarding">
      <h2 id="onboarding-title">Get started</h2>
      <p className="muted">The inventory is empty. Four steps to the first managed certificate:</p>
      <ol>
        {steps.map((s) => (
          <li key={s.to} data-done={s.done}>
            <span aria-hidden="true">{s.done ? '✓' : '○'}</span> <Link to={s.to}>{s.text}</Link>
            <span className="sr-only">{s.done ? ' (done)' : ' (to do)'}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
