import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api } from '../api/client';
import type { Agent, Job, Page, Target } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { DetailFrame, isNotFound } from '../components/detail';
import { RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { Table } from '../components/table';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';

type AgentDetail = Agent & { created_at?: string; registered_at?: string | null; retired_at?: string | null; retired_reason?: string | null };

/** One agent: where it runs, its heartbeat, the targets it deploys to, its recent jobs, and retire. */
export default function AgentDetailPage() {
  const { id = '' } = useParams();
  const path = `/agents/${encodeURIComponent(id)}`;
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const agent = useQuery({ queryKey: ['agents', 'one', id], queryFn: () => api.get<AgentDetail>(path), refetchInterval: 15_000 });
  const notFound = isNotFound(agent.error);
  useDocumentTitle(agent.data?.name ?? (notFound ? 'Agent not found' : 'Agent'));
  const known = agent.isSuccess;
  const targets = useQuery({ queryKey: ['agents', 'targets', id], queryFn: () => api.get<Page<Target>>('/targets', { agent_id: id, per_page: 100 }), enabled: known });
  const jobs = useQuery({ queryKey: ['agents', 'jobs', id], queryFn: () => api.get<Page<Job>>('/jobs', { agent_id: id, per_page: 20 }), enabled: known });
  const retire = useMutation({
    mutationFn: () => api.delete(`${path}?force=true&reason=${encodeURIComponent('retired from the console')}`),
    onSuccess: () => {
      toast.success(`Agent ${agent.data?.name} retired`);
      void queryClient.invalidateQueries({ queryKey: ['agents'] });
    },
    onError: toast.error,
  });
  const a = agent.data;
  return (
    <DetailFrame back="/agents" backLabel="Agents" titleId="agent-title" notFound={notFound} kind="agent" id={id}>
      <QueryState isLoading={agent.isLoading} error={agent.error}>
        {a && (
          <>
            <div className="page-head">
              <h1 id="agent-title">{a.name}</h1>
              <StatusBadge status={a.retired_at ? 'Retired' : a.status} />
            </div>
            {!a.retired_at && (
              <div className="actions">
                <Can permission="agent.retire">
                  <button
                    type="button"
                    className="danger"
                    onClick={() => confirm.ask({
                      title: `Retire agent ${a.name}?`, destructive: true, confirmLabel: 'Retire',
                      children: <p>The agent stops receiving work and its key is refused; targets that use it are detached.</p>,
                      onConfirm: () => retire.mutate(),
                    })}
                  >
                    Retire
                  </button>
                </Can>
              </div>
            )}
            <dl className="card overview" data-testid="agent-overview">
              <dt>Host</dt><dd>{a.hostname || '—'}{a.ip_address ? ` (${a.ip_address})` : ''}</dd>
              <dt>OS / arch</dt><dd>{[a.os, a.architecture].filter(Boolean).join(' / ') || '—'}</dd>
              <dt>Version</dt><dd>{a.version || '—'}</dd>
              <dt>Last heartbeat</dt><dd><RelativeTime iso={a.last_heartbeat_at} empty="never" /></dd>
              <dt>Registered</dt><dd><RelativeTime iso={a.registered_at ?? a.created_at} /></dd>
              {a.retired_at && (<><dt>Retired</dt><dd><RelativeTime iso={a.retired_at} />{a.retired_reason ? ` — ${a.retired_reason}` : ''}</dd></>)}
            </dl>
          </>
        )}
      </QueryState>
      <h2>Targets</h2>
      <QueryState isLoading={targets.isLoading && known} error={targets.error} isEmpty={!targets.data?.data.length} empty="No target deploys through this agent.">
        <ul data-testid="agent-targets">
          {targets.data?.data.map((t) => <li key={t.id}><Link to={`/targets/${encodeURIComponent(t.id)}`}>{t.name}</Link> <span className="muted">({t.type})</span></li>)}
        </ul>
      </QueryState>
      <h2>Recent jobs</h2>
      <QueryState isLoading={jobs.isLoading && known} error={jobs.error} isEmpty={!jobs.data?.data.length} empty="No jobs yet.">
        <JobRows jobs={jobs.data?.data ?? []} label="Agent jobs" />
      </QueryState>
      {confirm.dialog}
    </DetailFrame>
  );
}

/** A short job list whose ids lead to the job's page. */
export function JobRows({ jobs, label }: { jobs: Job[]; label: string }) {
  return (
    <Table label={label}>
      <thead><tr><th scope="col">Job</th><th scope="col">Type</th><th scope="col">Certificate</th><th scope="col">Status</th><th scope="col">Finished</th><th scope="col">Error</th></tr></thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id}>
            <td className="mono"><Link to={`/jobs/${encodeURIComponent(j.id)}`}>{j.id}</Link></td>
            <td>{j.type}</td>
            <td>{j.certificate_id ? <Link to={`/certificates/${encodeURIComponent(j.certificate_id)}`}>{j.certificate_id}</Link> : '—'}</td>
            <td><StatusBadge status={j.status} /></td>
            <td><RelativeTime iso={j.completed_at} /></td>
            <td className="truncate" title={j.last_error ?? ''}>{j.last_error ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}
