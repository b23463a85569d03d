import { useQueries, useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { Certificate, Page } from '../api/types';
import { Expiry, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { Table } from '../components/table';
import { useDocumentTitle } from '../components/title';

interface Profile {
  id: string;
  name: string;
  allow_short_lived?: boolean;
  max_ttl_seconds?: number | null;
}

function ttl(seconds?: number | null): string {
  if (!seconds) return 'no limit';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400 * 2) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

/** Certificates under profiles that allow short-lived certificates, soonest expiry first, refreshed every 15 s. */
export default function ShortLivedPage() {
  useDocumentTitle('Short-lived certificates');
  const profiles = useQuery({ queryKey: ['/profiles', 'short-lived'], queryFn: () => api.get<Page<Profile>>('/profiles', { per_page: 500 }) });
  const shortLived = (profiles.data?.data ?? []).filter((p) => p.allow_short_lived);
  const lists = useQueries({
    queries: shortLived.map((p) => ({
      queryKey: ['certificates', 'short-lived', p.id],
      queryFn: () => api.get<Page<Certificate>>('/certificates', { profile_id: p.id, sort: 'expires_at', per_page: 100 }),
      refetchInterval: 15_000,
    })),
  });
  const profileName = new Map(shortLived.map((p) => [p.id, p]));
  const rows = lists.flatMap((l) => l.data?.data ?? []).sort((a, b) => String(a.expires_at ?? '9').localeCompare(String(b.expires_at ?? '9')));
  return (
    <section aria-labelledby="short-lived-title">
      <h1 id="short-lived-title">Short-lived certificates</h1>
      <p className="muted">
        Certificates under a profile that allows short-lived certificates ({shortLived.map((p) => `${p.name}: at most ${ttl(p.max_ttl_seconds)}`).join('; ') || 'none yet'}).
        They renew at two thirds of their lifetime; revocation is rarely needed, as they expire first.
      </p>
      <QueryState isLoading={profiles.isLoading || lists.some((l) => l.isLoading)} error={profiles.error ?? lists.find((l) => l.error)?.error} isEmpty={!rows.length} empty="No short-lived certificates.">
        <Table label="Short-lived certificates">
          <thead><tr><th scope="col">Name</th><th scope="col">Profile</th><th scope="col">Status</th><th scope="col">Expires</th></tr></thead>
          <tbody data-testid="short-lived-rows">
            {rows.map((c) => (
              <tr key={c.id}>
                <td><Link to={`/certificates/${encodeURIComponent(c.id)}`}>{c.name}</Link></td>
                <td>{profileName.get(c.certificate_profile_id ?? '')?.name ?? '—'}</td>
                <td><StatusBadge status={c.status} /></td>
                <td><Expiry iso={c.expires_at} /></td>
              </tr>
            ))}
          </tbody>
        </Table>
      </QueryState>
    </section>
  );
}
