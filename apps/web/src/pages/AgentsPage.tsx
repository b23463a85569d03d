import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { Agent, Page } from '../api/types';
import { RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useUrlState } from '../components/url-state';
import { useDocumentTitle } from '../components/title';
import { Table } from '../components/table';

export default function AgentsPage() {
  useDocumentTitle('Agents');
  const { page, set } = useUrlState([] as const);
  const list = useQuery({ queryKey: ['agents', page], queryFn: () => api.get<Page<Agent>>('/agents', { page, per_page: 50 }), refetchInterval: 15_000 });
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No agents registered.">
        <Table label="Agents">
          <thead><tr><th scope="col">Name</th><th scope="col">Host</th><th scope="col">Status</th><th scope="col">Last heartbeat</th><th scope="col">Version</th><th scope="col">OS / arch</th></tr></thead>
          <tbody>
            {list.data?.data.map((a) => (
              <tr key={a.id}>
                <td><Link to={`/agents/${encodeURIComponent(a.id)}`}>{a.name}</Link></td>
                <td>{a.hostname || '—'} {a.ip_address ? <span className="muted">({a.ip_address})</span> : null}</td>
                <td><StatusBadge status={a.status} /></td>
                <td><RelativeTime iso={a.last_heartbeat_at} empty="never" /></td>
                <td>{a.version || '—'}</td>
                <td>{[a.os, a.architecture].filter(Boolean).join(' / ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={50} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
    </section>
  );
}
