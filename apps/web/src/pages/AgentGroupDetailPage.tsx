import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api } from '../api/client';
import type { Agent, Page } from '../api/types';
import { Can } from '../auth/session';
import { DetailFrame, isNotFound } from '../components/detail';
import { Field, formError } from '../components/form';
import { RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { Table } from '../components/table';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';

interface AgentGroup {
  id: string;
  name: string;
  description?: string;
  match_os?: string;
  match_architecture?: string;
  match_ip_cidr?: string;
  match_version?: string;
  enabled?: boolean;
}

interface Override {
  agent_id: string;
  membership_type: 'include' | 'exclude';
  created_at?: string;
}

type Member = Agent & { membership: 'dynamic' | 'include' };

/** One agent group: its criteria, its members (matched or included), and the agents included or excluded by hand. */
export default function AgentGroupDetailPage() {
  const { id = '' } = useParams();
  const path = `/agent-groups/${encodeURIComponent(id)}`;
  const queryClient = useQueryClient();
  const toast = useToast();
  const [agentId, setAgentId] = useState('');
  const [membership, setMembership] = useState<'include' | 'exclude'>('include');
  const group = useQuery({ queryKey: ['/agent-groups', 'one', id], queryFn: () => api.get<AgentGroup>(path) });
  const notFound = isNotFound(group.error);
  useDocumentTitle(group.data?.name ?? (notFound ? 'Agent group not found' : 'Agent group'));
  const known = group.isSuccess;
  const members = useQuery({ queryKey: ['/agent-groups', 'members', id], queryFn: () => api.get<Page<Member>>(`${path}/members`, { per_page: 200 }), enabled: known });
  const overrides = useQuery({ queryKey: ['/agent-groups', 'overrides', id], queryFn: () => api.get<Override[]>(`${path}/overrides`), enabled: known });
  const agents = useQuery({ queryKey: ['agents', 'options'], queryFn: () => api.get<Page<Agent>>('/agents', { per_page: 500 }), enabled: known });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['/agent-groups'] });
  const setOverride = useMutation({
    mutationFn: () => api.put<Override>(`${path}/overrides`, { agent_id: agentId, membership_type: membership }),
    onSuccess: () => {
      toast.success(`${agentId} ${membership === 'include' ? 'included' : 'excluded'}`);
      setAgentId('');
      void refresh();
    },
  });
  const removeOverride = useMutation({
    mutationFn: (agent: string) => api.delete(`${path}/overrides/${encodeURIComponent(agent)}`),
    onSuccess: () => void refresh(),
    onError: toast.error,
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    if (agentId) setOverride.mutate();
  }
  const g = group.data;
  const agentName = (aid: string) => agents.data?.data.find((a) => a.id === aid)?.name ?? aid;
  return (
    <DetailFrame back="/agent-groups" backLabel="Agent groups" titleId="group-title" notFound={notFound} kind="agent group" id={id}>
      <QueryState isLoading={group.isLoading} error={group.error}>
        {g && (
          <>
            <h1 id="group-title">{g.name}</h1>
            {g.description && <p className="muted">{g.description}</p>}
            <dl className="card overview" data-testid="group-criteria">
              <dt>OS</dt><dd>{g.match_os || 'any'}</dd>
              <dt>Architecture</dt><dd>{g.match_architecture || 'any'}</dd>
              <dt>IP range</dt><dd>{g.match_ip_cidr || 'any'}</dd>
              <dt>Version</dt><dd>{g.match_version || 'any'}</dd>
              <dt>Enabled</dt><dd>{g.enabled === false ? 'no' : 'yes'}</dd>
            </dl>
          </>
        )}
      </QueryState>
      <h2>Members</h2>
      <QueryState isLoading={members.isLoading && known} error={members.error} isEmpty={!members.data?.data.length} empty="No agent is a member.">
        <Table label="Members">
          <thead><tr><th scope="col">Agent</th><th scope="col">How</th><th scope="col">Status</th><th scope="col">OS / arch</th><th scope="col">Last heartbeat</th></tr></thead>
          <tbody data-testid="group-members">
            {members.data?.data.map((a) => (
              <tr key={a.id}>
                <td><Link to={`/agents/${encodeURIComponent(a.id)}`}>{a.name}</Link></td>
                <td>{a.membership === 'include' ? 'included by hand' : 'matches the criteria'}</td>
                <td><StatusBadge status={a.status} /></td>
                <td>{[a.os, a.architecture].filter(Boolean).join(' / ') || '—'}</td>
                <td><RelativeTime iso={a.last_heartbeat_at} empty="never" /></td>
              </tr>
            ))}
          </tbody>
        </Table>
      </QueryState>
      <h2>Included and excluded by hand</h2>
      <QueryState isLoading={overrides.isLoading && known} error={overrides.error} isEmpty={!overrides.data?.length} empty="None: membership follows the criteria.">
        <ul data-testid="group-overrides">
          {overrides.data?.map((o) => (
            <li key={o.agent_id}>
              {agentName(o.agent_id)}: <strong>{o.membership_type}d</strong>{' '}
              <Can permission="agent.edit">
                <button type="button" aria-label={`Remove the ${o.membership_type} of ${agentName(o.agent_id)}`} onClick={() => removeOverride.mutate(o.agent_id)}>Remove</button>
              </Can>
            </li>
          ))}
        </ul>
      </QueryState>
      <Can permission="agent.edit">
        <form className="card form" aria-label="Include or exclude an agent" onSubmit={submit} noValidate>
          <Field id="override-agent" label="Agent">
            <select id="override-agent" value={agentId} onChange={(e) => setAgentId(e.target.value)}>
              <option value="">Choose an agent…</option>
              {agents.data?.data.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
            </select>
          </Field>
          <Field id="override-type" label="Membership">
            <select id="override-type" value={membership} onChange={(e) => setMembership(e.target.value as 'include' | 'exclude')}>
              <option value="include">include</option>
              <option value="exclude">exclude</option>
            </select>
          </Field>
          {formError(setOverride.error, []) && <p className="field-error" role="alert">{formError(setOverride.error, [])}</p>}
          <div className="form-actions">
            <button type="submit" className="primary" disabled={!agentId || setOverride.isPending}>Apply</button>
          </div>
        </form>
      </Can>
    </DetailFrame>
  );
}
