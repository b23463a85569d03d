import { useQuery } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { StatsSummary } from '../api/types';
import { RelativeTime } from '../components/format';
import { QueryState } from '../components/query-state';
import { useDocumentTitle } from '../components/title';

// The charts load after the cards are on screen.
const DashboardCharts = lazy(() => import('./DashboardCharts'));
const DashboardPanels = lazy(() => import('./DashboardPanels'));
const OnboardingChecklist = lazy(() => import('./DashboardPanels').then((m) => ({ default: m.OnboardingChecklist })));

export default function DashboardPage() {
  useDocumentTitle('Dashboard');
  const summary = useQuery({
    queryKey: ['stats', 'summary'],
    queryFn: () => api.get<StatsSummary & { completed_at?: string }>('/stats/summary'),
    refetchInterval: 30_000,
  });
  const s = summary.data;
  const cards: Array<{ label: string; value?: number; to: string; tone?: string }> = s
    ? [
        { label: 'Certificates', value: s.total_certificates, to: '/certificates' },
        { label: 'Expiring in 30 days', value: s.expiring_certificates, to: '/certificates?status=Expiring', tone: 'warning' },
        { label: 'Expired', value: s.expired_certificates, to: '/certificates?status=Expired', tone: 'expired' },
        { label: 'Revoked', value: s.revoked_certificates, to: '/certificates?status=Revoked' },
        { label: 'Agents online', value: s.active_agents, to: '/agents' },
        { label: 'Jobs pending', value: s.pending_jobs, to: '/jobs?status=Pending' },
        { label: 'Jobs failed', value: s.failed_jobs, to: '/jobs?status=Failed', tone: 'expired' },
        { label: 'Dead notifications', value: s.notifications_dead, to: '/notifications?tab=dead', tone: 'warning' },
      ]
    : [];
  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Dashboard</h1>
      {s && s.total_certificates === 0 && (
        <Suspense fallback={null}>
          <OnboardingChecklist />
        </Suspense>
      )}
      <QueryState isLoading={summary.isLoading} error={summary.error}>
        <ul className="cards" data-testid="summary-cards">
          {cards.map((c) => (
            <li key={c.label} className={`card stat ${c.tone && c.value ? `stat-${c.tone}` : ''}`}>
              <Link to={c.to}>
                <span className="stat-value">{(c.value ?? 0).toLocaleString()}</span>
                <span className="stat-label">{c.label}</span>
              </Link>
            </li>
          ))}
        </ul>
        {s?.completed_at && (
          <p className="muted small">
            Counted <RelativeTime iso={s.completed_at} />
          </p>
        )}
      </QueryState>
      <Suspense fallback={<p className="state" role="status">Loading charts…</p>}>
        <DashboardCharts />
      </Suspense>
      <Suspense fallback={null}>
        <DashboardPanels />
      </Suspense>
    </section>
  );
}
