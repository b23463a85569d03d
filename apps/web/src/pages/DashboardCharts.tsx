import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { DayChart, DonutChart } from '../components/charts';
import { QueryState } from '../components/query-state';

interface StatusCount { status: string; count: number }
interface DayCount { date: string; count: number }
interface JobTrend { date: string; completed_count: number; failed_count: number }
interface IssuanceRate { date: string; issued_count: number }

const STATUS_COLOURS: Record<string, string> = {
  Active: '#2e7d32', Expiring: '#ed6c02', Expired: '#c62828', Pending: '#6d6d6d', RenewalInProgress: '#0277bd',
  Failed: '#ad1457', Revoked: '#8d6e63', Archived: '#9e9e9e',
};

const shortDate = (d: string) => d.slice(5);

function Panel({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <figure className="card chart">
      <figcaption>{title}</figcaption>
      <div className="chart-body">{children}</div>
    </figure>
  );
}

/** The four dashboard charts, each from its certctl stats endpoint. */
export default function DashboardCharts() {
  const byStatus = useQuery({ queryKey: ['stats', 'by-status'], queryFn: () => api.get<StatusCount[]>('/stats/certificates-by-status') });
  const timeline = useQuery({ queryKey: ['stats', 'timeline'], queryFn: () => api.get<DayCount[]>('/stats/expiration-timeline', { days: 90 }) });
  const jobs = useQuery({ queryKey: ['stats', 'jobs'], queryFn: () => api.get<JobTrend[]>('/stats/job-trends', { days: 30 }) });
  const issuance = useQuery({ queryKey: ['stats', 'issuance'], queryFn: () => api.get<IssuanceRate[]>('/stats/issuance-rate', { days: 30 }) });
  return (
    <div className="charts" data-testid="dashboard-charts">
      <Panel title="Certificates by status">
        <QueryState isLoading={byStatus.isLoading} error={byStatus.error} isEmpty={!byStatus.data?.length} empty="No certificates.">
          <DonutChart
            label="Certificates by status"
            slices={(byStatus.data ?? []).map((s) => ({ name: s.status, value: s.count, colour: STATUS_COLOURS[s.status] ?? '#607d8b' }))}
          />
        </QueryState>
      </Panel>
      <Panel title="Expirations, next 90 days">
        <QueryState isLoading={timeline.isLoading} error={timeline.error}>
          <DayChart label="Certificates expiring per day, next 90 days" kind="bars" data={timeline.data ?? []} x="date" tick={shortDate}
            series={[{ key: 'count', name: 'Expiring', colour: '#ed6c02' }]} />
        </QueryState>
      </Panel>
      <Panel title="Jobs, last 30 days">
        <QueryState isLoading={jobs.isLoading} error={jobs.error}>
          <DayChart label="Jobs completed and failed per day, last 30 days" kind="bars" data={jobs.data ?? []} x="date" tick={shortDate}
            series={[{ key: 'completed_count', name: 'Completed', colour: '#2e7d32' }, { key: 'failed_count', name: 'Failed', colour: '#c62828' }]} />
        </QueryState>
      </Panel>
      <Panel title="Issuance rate, last 30 days">
        <QueryState isLoading={issuance.isLoading} error={issuance.error}>
          <DayChart label="Certificates issued per day, last 30 days" kind="line" data={issuance.data ?? []} x="date" tick={shortDate}
            series={[{ key: 'issued_count', name: 'Issued', colour: '#0277bd' }]} />
        </QueryState>
      </Panel>
    </div>
  );
}
