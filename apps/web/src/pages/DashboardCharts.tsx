import { useQuery } from '@tanstack/react-query';
import { Bar, BarChart, CartesianGrid, Cell, Legend, Line, LineChart, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { api } from '../api/client';
import { QueryState } from '../components/query-state';

interface StatusCount { status: string; count: number }
interface DayCount { date: string; count: number }
interface JobTrend { date: string; completed_count: number; failed_count: number }
interface IssuanceRate { date: string; issued_count: number }

const STATUS_COLOURS: Record<string, string> = {
  Active: '#2e7d32', Expiring: '#ed6c02', Expired: '#c62828', Pending: '#6d6d6d', RenewalInProgress: '#0277bd',
  Failed: '#ad1457', Revoked: '#8d6e63', Archived: '#9e9e9e',
};

/** Legend entries in the page's text colour (readable in both themes), each with its count. */
function statusLegend(data: StatusCount[] | undefined) {
  const counts = new Map((data ?? []).map((d) => [d.status, d.count]));
  return (value: string) => (
    <span className="legend-text">
      {value} ({(counts.get(value) ?? 0).toLocaleString()})
    </span>
  );
}

/** Text the other legends need: the series name in the page's text colour. */
const plainLegend = (value: string) => <span className="legend-text">{value}</span>;

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
          <ResponsiveContainer width="100%" height={240}>
            <PieChart>
              <Pie data={byStatus.data} dataKey="count" nameKey="status" outerRadius={80} isAnimationActive={false} label={({ value }) => Number(value).toLocaleString()} labelLine={false}>
                {byStatus.data?.map((s) => <Cell key={s.status} fill={STATUS_COLOURS[s.status] ?? '#607d8b'} />)}
              </Pie>
              <Tooltip />
              <Legend formatter={statusLegend(byStatus.data)} />
            </PieChart>
          </ResponsiveContainer>
        </QueryState>
      </Panel>
      <Panel title="Expirations, next 90 days">
        <QueryState isLoading={timeline.isLoading} error={timeline.error}>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={timeline.data}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="date" tickFormatter={shortDate} minTickGap={20} />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Bar dataKey="count" name="Expiring" fill="#ed6c02" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </QueryState>
      </Panel>
      <Panel title="Jobs, last 30 days">
        <QueryState isLoading={jobs.isLoading} error={jobs.error}>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={jobs.data}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="date" tickFormatter={shortDate} minTickGap={20} />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Legend formatter={plainLegend} />
              <Bar dataKey="completed_count" name="Completed" stackId="jobs" fill="#2e7d32" isAnimationActive={false} />
              <Bar dataKey="failed_count" name="Failed" stackId="jobs" fill="#c62828" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </QueryState>
      </Panel>
      <Panel title="Issuance rate, last 30 days">
        <QueryState isLoading={issuance.isLoading} error={issuance.error}>
          <ResponsiveContainer width="100%" height={240}>
            <LineChart data={issuance.data}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="date" tickFormatter={shortDate} minTickGap={20} />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Line dataKey="issued_count" name="Issued" stroke="#0277bd" dot={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </QueryState>
      </Panel>
    </div>
  );
}
