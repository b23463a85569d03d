import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import type { Page } from '../api/types';
import { Pager, QueryState } from '../components/query-state';
import { useUrlState } from '../components/url-state';

/** GET /reports/readiness (apps/api/src/modules/reports): the fields this page shows. */
type PerStep = Record<'now' | 'sc081_2026' | 'sc081_2027' | 'sc081_2029', number>;
interface ReadinessRow {
  certificate_id: string;
  name: string;
  common_name: string;
  issuer_name: string;
  current_lifetime_days: number | null;
  lifetime_days: PerStep;
  renewals_per_year: PerStep;
  caa: { status: string; detail?: string };
  deployment: { mode: 'automated' | 'manual' | 'no_targets'; targets: number; manual_targets: Array<{ id: string; name: string; reason: string }> };
}
interface ReadinessGroup {
  id: string | null;
  name: string | null;
  certificates: number;
  renewals_per_week: PerStep;
}
interface ReadinessReport extends Page<ReadinessRow> {
  steps: Array<{ key: keyof PerStep; effective: string; max_days: number }>;
  totals: { certificates: number; renewals_per_week: PerStep };
  by_team: ReadinessGroup[];
  by_issuer: ReadinessGroup[];
}
interface Named {
  id: string;
  name: string;
}

const PER_PAGE = 50;
const KEYS: Array<keyof PerStep> = ['now', 'sc081_2026', 'sc081_2027', 'sc081_2029'];
const fmt = (n: number) => n.toLocaleString(undefined, { maximumFractionDigits: 2 });

function StepHeads({ steps }: { steps: ReadinessReport['steps'] }) {
  return (
    <>
      <th scope="col">Now</th>
      {steps.map((s) => <th scope="col" key={s.key} title={`from ${s.effective}`}>{s.max_days} days</th>)}
    </>
  );
}

function Groups({ title, groups, steps, unnamed }: { title: string; groups: ReadinessGroup[]; steps: ReadinessReport['steps']; unnamed: string }) {
  return (
    <table aria-label={title}>
      <thead>
        <tr><th scope="col">{title}</th><th scope="col">Certificates</th><StepHeads steps={steps} /></tr>
      </thead>
      <tbody>
        {groups.map((g) => (
          <tr key={g.id ?? '-'}>
            <td>{g.name ?? g.id ?? unnamed}</td>
            <td>{g.certificates.toLocaleString()}</td>
            {KEYS.map((k) => <td key={k}>{fmt(g.renewals_per_week[k])}</td>)}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Readiness for SC-081's shorter lifetimes: renewals a week now and at each step, CAA, and deploys that need a person. */
export default function ReadinessPage() {
  const { values, page, set } = useUrlState(['team_id', 'issuer_id'] as const);
  const [csvError, setCsvError] = useState<string | null>(null);
  const teams = useQuery({ queryKey: ['teams', 'all'], queryFn: () => api.get<Page<Named>>('/teams', { per_page: 500 }) });
  const issuers = useQuery({ queryKey: ['issuers', 'all'], queryFn: () => api.get<Page<Named>>('/issuers', { per_page: 500 }) });
  const report = useQuery({
    queryKey: ['readiness', values, page],
    queryFn: () => api.get<ReadinessReport>('/reports/readiness', { team_id: values.team_id, issuer_id: values.issuer_id, page, per_page: PER_PAGE }),
  });

  async function downloadCsv() {
    setCsvError(null);
    try {
      const query = new URLSearchParams({ format: 'csv', ...(values.team_id ? { team_id: values.team_id } : {}), ...(values.issuer_id ? { issuer_id: values.issuer_id } : {}) });
      const url = URL.createObjectURL(await api.download(`/reports/readiness?${query}`));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'readiness.csv';
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setCsvError((err as Error).message);
    }
  }

  const data = report.data;
  return (
    <section aria-labelledby="readiness-title">
      <div className="page-head">
        <h1 id="readiness-title">Readiness for shorter lifetimes</h1>
        <button type="button" onClick={downloadCsv}>Export CSV</button>
      </div>
      {csvError ? <p className="state state-error" role="alert">Could not export: {csvError}</p> : null}
      <div className="filters">
        <label>
          Team
          <select value={values.team_id} onChange={(e) => set({ team_id: e.target.value })}>
            <option value="">Any</option>
            {teams.data?.data.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
          </select>
        </label>
        <label>
          Issuer
          <select value={values.issuer_id} onChange={(e) => set({ issuer_id: e.target.value })}>
            <option value="">Any</option>
            {issuers.data?.data.map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}
          </select>
        </label>
      </div>
      <QueryState isLoading={report.isLoading} error={report.error} isEmpty={!data?.total} empty="No certificates match.">
        {data && (
          <>
            <h2>Renewals a week</h2>
            <p className="muted" data-testid="readiness-totals">
              {data.totals.certificates.toLocaleString()} certificates: {fmt(data.totals.renewals_per_week.now)} renewals a week now,{' '}
              {data.steps.map((s) => `${fmt(data.totals.renewals_per_week[s.key])} at ${s.max_days} days (from ${s.effective})`).join(', ')}.
            </p>
            <Groups title="Team" groups={data.by_team} steps={data.steps} unnamed="No team" />
            <Groups title="Issuer" groups={data.by_issuer} steps={data.steps} unnamed="Unknown issuer" />
            <h2>Certificates</h2>
            <table aria-label="Certificates">
              <thead>
                <tr>
                  <th scope="col">Certificate</th><th scope="col">Issuer</th><th scope="col">Lifetime (days) now → 200 / 100 / 47</th>
                  <th scope="col">Renewals a year now → 47</th><th scope="col">CAA</th><th scope="col">Deploys</th>
                </tr>
              </thead>
              <tbody data-testid="readiness-rows">
                {data.data.map((r) => (
                  <tr key={r.certificate_id}>
                    <td className="truncate" title={r.common_name}>{r.name}</td>
                    <td>{r.issuer_name}</td>
                    <td>{KEYS.map((k) => fmt(r.lifetime_days[k])).join(' → ')}</td>
                    <td>{fmt(r.renewals_per_year.now)} → {fmt(r.renewals_per_year.sc081_2029)}</td>
                    <td title={r.caa.detail}>{r.caa.status.replace('_', ' ')}</td>
                    <td title={r.deployment.manual_targets.map((t) => `${t.name}: ${t.reason}`).join('\n')}>
                      {r.deployment.mode === 'manual'
                        ? `manual: ${r.deployment.manual_targets.map((t) => t.name).join(', ')}`
                        : r.deployment.mode === 'no_targets' ? 'no targets' : 'automated'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager page={page} perPage={PER_PAGE} total={data.total} onPage={(p) => set({ page: p })} />
          </>
        )}
      </QueryState>
    </section>
  );
}
