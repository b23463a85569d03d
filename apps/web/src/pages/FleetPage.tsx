import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, ApiRequestError } from '../api/client';
import type { Agent, Page } from '../api/types';
import { Can } from '../auth/session';
import { ConfirmButton, useConfirm } from '../components/confirm';
import { RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';
import { useUrlState } from '../components/url-state';
import { Table } from '../components/table';

const PER_PAGE = 50;
/** The overview counts the first this-many agents; a larger fleet is summed over the ones shown. */
const OVERVIEW_SAMPLE = 500;

function countBy(agents: Agent[], key: (a: Agent) => string): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const a of agents) counts.set(key(a), (counts.get(key(a)) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]);
}

function Breakdown({ title, rows }: { title: string; rows: Array<[string, number]> }) {
  return (
    <figure className="card breakdown">
      <figcaption>{title}</figcaption>
      <ul>
        {rows.map(([label, n]) => (
          <li key={label}><span>{label}</span> <strong>{n}</strong></li>
        ))}
      </ul>
    </figure>
  );
}

/** The agent fleet: counts by status, version and OS, every agent's last heartbeat, and retire. */
export default function FleetPage() {
  useDocumentTitle('Fleet');
  const { values, page, set } = useUrlState(['status'] as const);
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const [blocked, setBlocked] = useState<{ agent: Agent; message: string } | null>(null);
  const overview = useQuery({ queryKey: ['agents', 'overview'], queryFn: () => api.get<Page<Agent>>('/agents', { per_page: OVERVIEW_SAMPLE }), refetchInterval: 30_000 });
  const list = useQuery({
    queryKey: ['agents', 'fleet', values.status, page],
    queryFn: () => api.get<Page<Agent>>('/agents', { status: values.status, page, per_page: PER_PAGE }),
    refetchInterval: 15_000,
  });
  const retire = useMutation({
    mutationFn: ({ agent, force }: { agent: Agent; force: boolean }) =>
      api.delete(`/agents/${encodeURIComponent(agent.id)}${force ? `?force=true&reason=${encodeURIComponent('retired from the console')}` : ''}`),
    onSuccess: (_, { agent }) => {
      toast.success(`Agent ${agent.name} retired`);
      setBlocked(null);
      void queryClient.invalidateQueries({ queryKey: ['agents'] });
    },
    onError: (err, { agent }) => {
      // Targets, certificates or open jobs still depend on it: say so, and offer the cascading retire.
      if (err instanceof ApiRequestError && err.status === 409) setBlocked({ agent, message: err.message });
      else toast.error(err);
    },
  });
  const all = overview.data?.data ?? [];
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      <QueryState isLoading={overview.isLoading} error={overview.error}>
        <div className="breakdowns" data-testid="fleet-overview">
          <Breakdown title="By status" rows={countBy(all, (a) => a.status || 'unknown')} />
          <Breakdown title="By version" rows={countBy(all, (a) => a.version || 'unknown')} />
          <Breakdown title="By OS" rows={countBy(all, (a) => [a.os, a.architecture].filter(Boolean).join(' / ') || 'unknown')} />
        </div>
        {(overview.data?.total ?? 0) > all.length && <p className="muted small">Counts cover the first {all.length} of {overview.data?.total} agents.</p>}
      </QueryState>
      <div className="filters">
        <label>
          Status
          <select value={values.status} onChange={(e) => set({ status: e.target.value })}>
            <option value="">Any</option>
            {['Online', 'Offline', 'Degraded'].map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
      </div>
      {blocked && (
        <div className="card notice" role="alert">
          <p>{blocked.agent.name} was not retired: {blocked.message}</p>
          <Can permission="agent.retire">
            <button type="button" className="danger" onClick={() => retire.mutate({ agent: blocked.agent, force: true })}>Retire {blocked.agent.name} and detach what depends on it</button>
          </Can>
          <button type="button" onClick={() => setBlocked(null)}>Keep it</button>
        </div>
      )}
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No agents registered.">
        <>
          <Table label="Agents in the fleet">
            <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Last heartbeat</th><th scope="col">Version</th><th scope="col">OS / arch</th><th scope="col">Host</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody data-testid="fleet-rows">
              {list.data?.data.map((a) => (
                <tr key={a.id}>
                  <td>{a.name}</td>
                  <td><StatusBadge status={a.status} /></td>
                  <td><RelativeTime iso={a.last_heartbeat_at} empty="never" /></td>
                  <td>{a.version || '—'}</td>
                  <td>{[a.os, a.architecture].filter(Boolean).join(' / ') || '—'}</td>
                  <td>{a.hostname || '—'}</td>
                  <td className="row-actions">
                    <Can permission="agent.retire">
                      <ConfirmButton ask={confirm.ask} label="Retire" ariaLabel={`Retire ${a.name}`} title={`Retire agent ${a.name}?`}
                        detail={<p>The agent stops receiving work; its key is no longer accepted.</p>} onConfirm={() => retire.mutate({ agent: a, force: false })} />
                    </Can>
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
        <Pager page={page} perPage={PER_PAGE} total={list.data?.total ?? 0} onPage={(p) => set({ page: p })} />
      </QueryState>
      {confirm.dialog}
    </section>
  );
}
