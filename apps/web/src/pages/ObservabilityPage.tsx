import { useQuery } from '@tanstack/react-query';
import { Fragment } from 'react';
import { api } from '../api/client';
import { QueryState } from '../components/query-state';
import { useDocumentTitle } from '../components/title';

type Metrics = Record<string, Record<string, number | string>>;
/** What the operator configured (CERTCTL_GRAFANA_URL, CERTCTL_PROMETHEUS_URL); an unset one is absent. */
type MetricsLinks = { grafana_url?: string; prometheus_url?: string };

const GROUP_TITLES: Record<string, string> = { gauge: 'Now', counter: 'Since start', uptime: 'Uptime', ocsp: 'OCSP responder', crl: 'CRL' };

/** The JSON metrics summary (`/api/v1/metrics`), grouped as the server groups it; Prometheus scrapes `/metrics`. */
export default function ObservabilityPage() {
  useDocumentTitle('Observability');
  const metrics = useQuery({ queryKey: ['metrics'], queryFn: () => api.get<Metrics>('/metrics'), refetchInterval: 15_000 });
  const links = useQuery({ queryKey: ['metrics-links'], queryFn: () => api.get<MetricsLinks>('/metrics/links'), staleTime: Infinity });
  const grafana = links.data?.grafana_url;
  const prometheus = links.data?.prometheus_url;
  return (
    <section aria-labelledby="observability-title">
      <h1 id="observability-title">Observability</h1>
      <p className="muted">
        The server's own counters, refreshed every 15 s. Prometheus scrapes the same figures in its text format at <span className="mono">/metrics</span> (and
        <span className="mono"> /api/v1/metrics/prometheus</span> with a key).
      </p>
      {grafana || prometheus ? (
        <nav aria-label="Metrics over time" data-testid="metrics-links">
          <ul>
            {grafana ? <li><a href={grafana} target="_blank" rel="noreferrer noopener">Open Grafana</a></li> : null}
            {prometheus ? <li><a href={prometheus} target="_blank" rel="noreferrer noopener">Open Prometheus</a></li> : null}
          </ul>
        </nav>
      ) : null}
      <QueryState isLoading={metrics.isLoading} error={metrics.error}>
        <div className="panels" data-testid="metrics">
          {Object.entries(metrics.data ?? {}).map(([group, values]) => (
            <section key={group} className="card" aria-labelledby={`metrics-${group}`}>
              <h2 id={`metrics-${group}`}>{GROUP_TITLES[group] ?? group}</h2>
              <dl className="overview">
                {Object.entries(values ?? {}).map(([name, value]) => (
                  <Fragment key={name}>
                    <dt>{name.replace(/_/g, ' ')}</dt>
                    <dd data-metric={`${group}.${name}`}>{typeof value === 'number' ? value.toLocaleString() : String(value)}</dd>
                  </Fragment>
                ))}
              </dl>
            </section>
          ))}
        </div>
      </QueryState>
    </section>
  );
}
