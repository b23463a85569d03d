import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { api } from '../api/client';
import type { Job, Page, Target } from '../api/types';
import { Can } from '../auth/session';
import { useConfirm } from '../components/confirm';
import { ConfigList, DetailFrame, isNotFound } from '../components/detail';
import { RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { useDocumentTitle } from '../components/title';
import { useToast } from '../components/toasts';
import { JobRows } from './AgentDetailPage';

interface TestResult {
  status: 'success' | 'failed';
  message: string;
  tested_at: string;
}

/** One deployment target: its configuration (secrets masked), a dry-run test, its deployments, and delete. */
export default function TargetDetailPage() {
  const { id = '' } = useParams();
  const path = `/targets/${encodeURIComponent(id)}`;
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const target = useQuery({ queryKey: ['/targets', 'one', id], queryFn: () => api.get<Target>(path) });
  const notFound = isNotFound(target.error);
  useDocumentTitle(target.data?.name ?? (notFound ? 'Target not found' : 'Target'));
  const known = target.isSuccess;
  const deployments = useQuery({
    queryKey: ['/targets', 'deployments', id],
    queryFn: () => api.get<Page<Job>>('/jobs', { target_id: id, type: 'Deployment', per_page: 50 }),
    enabled: known,
  });
  const test = useMutation({ mutationFn: () => api.post<TestResult>(`${path}/test`, {}), onError: toast.error });
  const remove = useMutation({
    mutationFn: () => api.delete(path),
    onSuccess: () => {
      toast.success(`Target ${target.data?.name} deleted`);
      void queryClient.invalidateQueries({ queryKey: ['/targets'] });
      void navigate('/targets');
    },
    onError: toast.error,
  });
  const t = target.data;
  return (
    <DetailFrame back="/targets" backLabel="Deployment targets" titleId="target-title" notFound={notFound} kind="target" id={id}>
      <QueryState isLoading={target.isLoading} error={target.error}>
        {t && (
          <>
            <div className="page-head">
              <h1 id="target-title">{t.name}</h1>
              <span className="badge">{t.type}</span>
              {t.enabled === false && <span className="muted">disabled</span>}
            </div>
            <div className="actions">
              <Can permission="target.edit" scope="any">
                <button type="button" onClick={() => test.mutate()} disabled={test.isPending}>Test connection</button>
              </Can>
              <Can permission="target.delete" scope="any">
                <button
                  type="button"
                  className="danger"
                  onClick={() => confirm.ask({ title: `Delete target ${t.name}?`, destructive: true, confirmLabel: 'Delete', onConfirm: () => remove.mutate() })}
                >
                  Delete
                </button>
              </Can>
            </div>
            {test.data && (
              <p className={test.data.status === 'success' ? 'state' : 'state state-error'} role="status" data-testid="target-test-result">
                <StatusBadge status={test.data.status} /> {test.data.message} <RelativeTime iso={test.data.tested_at} />
              </p>
            )}
            <dl className="card overview">
              <dt>Agent</dt><dd>{t.agent_id ? <Link to={`/agents/${encodeURIComponent(t.agent_id)}`}>{t.agent_id}</Link> : 'none (the server deploys)'}</dd>
              <dt>Created</dt><dd><RelativeTime iso={t.created_at} /></dd>
            </dl>
            <h2>Configuration</h2>
            <ConfigList config={t.config} testId="target-config" />
          </>
        )}
      </QueryState>
      <h2>Deployments</h2>
      <QueryState isLoading={deployments.isLoading && known} error={deployments.error} isEmpty={!deployments.data?.data.length} empty="Nothing deployed here yet.">
        <JobRows jobs={deployments.data?.data ?? []} label="Target deployments" />
      </QueryState>
      {confirm.dialog}
    </DetailFrame>
  );
}
