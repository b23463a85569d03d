import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, useState } from 'react';
import { api } from '../api/client';
import type { Page } from '../api/types';
import { Can } from '../auth/session';
import { ConfirmButton, useConfirm } from '../components/confirm';
import { Field, fieldErrors, formError } from '../components/form';
import { RelativeTime, StatusBadge } from '../components/format';
import { Pager, QueryState } from '../components/query-state';
import { useToast } from '../components/toasts';
import { useDocumentTitle } from '../components/title';
import { Table } from '../components/table';

interface AcmeIdentifier { type: string; value: string }
interface AcmeProblem { type?: string; detail?: string }
interface AcmeAccount {
  id: string; profile_id: string; contact: string[]; status: string; eab_key_id?: string | null; team_id?: string | null; owner_id?: string | null; created_at: string;
}
interface AcmeChallenge { id: string; type: string; status: string; error?: AcmeProblem | null; validated_at?: string | null }
interface AcmeAuthorization { id: string; identifier: AcmeIdentifier; status: string; wildcard: boolean; challenges?: AcmeChallenge[] | null }
interface AcmeOrder {
  id: string; account_id: string; profile_id: string; status: string; identifiers: AcmeIdentifier[]; certificate_id?: string | null;
  error?: AcmeProblem | null; authorizations?: AcmeAuthorization[] | null; created_at: string;
}
interface EabKey {
  id: string; profile_id: string; team_id?: string | null; owner_id: string; status: string; account_id?: string | null; expires_at?: string | null; created_at: string;
}
interface Named { id: string; name: string; acme_issuer_id?: string | null }

const PER_PAGE = 25;

/** A problem document in a line: its type's last part, then the detail. */
function problemText(p?: AcmeProblem | null): string {
  if (!p) return '';
  const kind = p.type?.split(':').pop();
  return [kind, p.detail].filter(Boolean).join(': ');
}

/** The ACME server's clients: accounts, their orders down to each challenge, and the EAB keys that register accounts. */
export default function AcmePage() {
  useDocumentTitle('ACME');
  return (
    <section aria-labelledby="acme-title">
      <h1 id="acme-title">ACME</h1>
      <EabKeys />
      <Accounts />
      <Orders />
    </section>
  );
}

function Accounts() {
  const [page, setPage] = useState(1);
  const list = useQuery({ queryKey: ['acme-accounts', page], queryFn: () => api.get<Page<AcmeAccount>>('/acme/accounts', { page, per_page: PER_PAGE }), refetchInterval: 15_000 });
  return (
    <>
      <h2>Accounts</h2>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No ACME client has registered an account.">
        <Table label="ACME accounts">
          <thead><tr><th scope="col">Account</th><th scope="col">Status</th><th scope="col">Profile</th><th scope="col">Team</th><th scope="col">Owner</th><th scope="col">Contact</th><th scope="col">Created</th></tr></thead>
          <tbody>
            {list.data?.data.map((a) => (
              <tr key={a.id} data-testid={`acme-account-${a.id}`}>
                <td className="mono">{a.id}</td>
                <td><StatusBadge status={a.status} /></td>
                <td className="mono">{a.profile_id}</td>
                <td className="mono">{a.team_id ?? '—'}</td>
                <td className="mono">{a.owner_id ?? '—'}</td>
                <td>{a.contact.length ? a.contact.join(', ') : '—'}</td>
                <td><RelativeTime iso={a.created_at} /></td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={PER_PAGE} total={list.data?.total ?? 0} onPage={setPage} />
      </QueryState>
    </>
  );
}

const ORDER_STATUSES = ['pending', 'ready', 'processing', 'valid', 'invalid'];

function Orders() {
  const [page, setPage] = useState(1);
  const [status, setStatus] = useState('');
  const list = useQuery({
    queryKey: ['acme-orders', page, status],
    queryFn: () => api.get<Page<AcmeOrder>>('/acme/orders', { page, per_page: PER_PAGE, status: status || undefined }),
    refetchInterval: 5000,
  });
  return (
    <>
      <h2>Orders</h2>
      <div className="filters">
        <label>
          Status
          <select value={status} onChange={(e) => { setStatus(e.target.value); setPage(1); }}>
            <option value="">Any</option>
            {ORDER_STATUSES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
      </div>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No orders match.">
        <Table label="ACME orders">
          <thead><tr><th scope="col">Order</th><th scope="col">Status</th><th scope="col">Identifiers</th><th scope="col">Account</th><th scope="col">Authorizations and challenges</th><th scope="col">Created</th></tr></thead>
          <tbody>
            {list.data?.data.map((o) => (
              <tr key={o.id} data-testid={`acme-order-${o.id}`}>
                <td className="mono">{o.id}</td>
                <td>
                  <StatusBadge status={o.status} />
                  {o.error && <div className="field-error" data-testid="order-error">{problemText(o.error)}</div>}
                </td>
                <td>{o.identifiers.map((i) => i.value).join(', ')}</td>
                <td className="mono">{o.account_id}</td>
                <td>
                  <ul className="plain">
                    {(o.authorizations ?? []).map((a) => (
                      <li key={a.id} data-testid={`acme-authz-${a.id}`}>
                        {a.wildcard ? '*.' : ''}{a.identifier.value} <StatusBadge status={a.status} />
                        <ul className="plain">
                          {(a.challenges ?? []).map((c) => (
                            <li key={c.id} data-testid={`acme-challenge-${c.id}`}>
                              {c.type} <StatusBadge status={c.status} />
                              {c.error && <span className="field-error"> {problemText(c.error)}</span>}
                            </li>
                          ))}
                        </ul>
                      </li>
                    ))}
                  </ul>
                </td>
                <td><RelativeTime iso={o.created_at} /></td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={PER_PAGE} total={list.data?.total ?? 0} onPage={setPage} />
      </QueryState>
    </>
  );
}

function EabKeys() {
  const [page, setPage] = useState(1);
  const queryClient = useQueryClient();
  const toast = useToast();
  const confirm = useConfirm();
  const list = useQuery({ queryKey: ['acme-eab-keys', page], queryFn: () => api.get<Page<EabKey>>('/acme/eab-keys', { page, per_page: PER_PAGE }) });
  const revoke = useMutation({
    mutationFn: (k: EabKey) => api.post<EabKey>(`/acme/eab-keys/${encodeURIComponent(k.id)}/revoke`, {}),
    onSuccess: (k) => {
      toast.success(`EAB key ${k.id} revoked`);
      void queryClient.invalidateQueries({ queryKey: ['acme-eab-keys'] });
    },
    onError: toast.error,
  });
  return (
    <>
      <h2>External account binding keys</h2>
      <Can permission="acme.eab.manage"><NewEabKey /></Can>
      <QueryState isLoading={list.isLoading} error={list.error} isEmpty={!list.data?.data.length} empty="No EAB keys.">
        <Table label="EAB keys">
          <thead><tr><th scope="col">Key id</th><th scope="col">Status</th><th scope="col">Profile</th><th scope="col">Team</th><th scope="col">Owner</th><th scope="col">Account</th><th scope="col">Expires</th><th scope="col">Created</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {list.data?.data.map((k) => (
              <tr key={k.id} data-testid={`eab-key-${k.id}`}>
                <td className="mono">{k.id}</td>
                <td><StatusBadge status={k.status} /></td>
                <td className="mono">{k.profile_id}</td>
                <td className="mono">{k.team_id ?? '—'}</td>
                <td className="mono">{k.owner_id}</td>
                <td className="mono">{k.account_id ?? '—'}</td>
                <td><RelativeTime iso={k.expires_at} empty="never" /></td>
                <td><RelativeTime iso={k.created_at} /></td>
                <td className="row-actions">
                  {(k.status === 'active' || k.status === 'bound') && (
                    <Can permission="acme.eab.manage">
                      <ConfirmButton ask={confirm.ask} label="Revoke" ariaLabel={`Revoke EAB key ${k.id}`} title={`Revoke EAB key ${k.id}?`} onConfirm={() => revoke.mutate(k)} />
                    </Can>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
        <Pager page={page} perPage={PER_PAGE} total={list.data?.total ?? 0} onPage={setPage} />
      </QueryState>
      {confirm.dialog}
    </>
  );
}

const EAB_FIELDS = ['profile_id', 'owner_id', 'team_id', 'expires_at'] as const;

function NewEabKey() {
  const [profileId, setProfileId] = useState('');
  const [ownerId, setOwnerId] = useState('');
  const [teamId, setTeamId] = useState('');
  const [secret, setSecret] = useState<{ id: string; hmac: string } | null>(null);
  const queryClient = useQueryClient();
  const toast = useToast();
  const profiles = useQuery({ queryKey: ['profiles', 'acme'], queryFn: () => api.get<Page<Named>>('/profiles', { per_page: 200 }) });
  const owners = useQuery({ queryKey: ['owners', 'all'], queryFn: () => api.get<Page<Named>>('/owners', { per_page: 200 }) });
  const teams = useQuery({ queryKey: ['teams', 'all'], queryFn: () => api.get<Page<Named>>('/teams', { per_page: 200 }) });
  const create = useMutation({
    mutationFn: () => api.post<EabKey & { hmac_key: string }>('/acme/eab-keys', { profile_id: profileId, owner_id: ownerId, team_id: teamId || undefined }),
    onSuccess: (k) => {
      setSecret({ id: k.id, hmac: k.hmac_key });
      void queryClient.invalidateQueries({ queryKey: ['acme-eab-keys'] });
    },
  });
  const errors = fieldErrors(create.error);
  const acmeProfiles = (profiles.data?.data ?? []).filter((p) => p.acme_issuer_id);
  return (
    <>
      {secret && (
        <div className="card secret" role="alert">
          <p>The HMAC key of EAB key <strong>{secret.id}</strong> is shown this once. Give both to the ACME client now; only an encrypted copy is stored.</p>
          <p>Key id: <code className="mono" data-testid="new-eab-kid">{secret.id}</code></p>
          <p>HMAC key: <code className="mono" data-testid="new-eab-hmac">{secret.hmac}</code></p>
          <button type="button" onClick={() => navigator.clipboard?.writeText(secret.hmac).then(() => toast.success('Copied'))}>Copy HMAC key</button>
          <button type="button" onClick={() => setSecret(null)}>Done</button>
        </div>
      )}
      <form className="card form inline" aria-label="New EAB key" noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); create.mutate(); }}>
        <Field id="eab-profile" label="ACME profile" error={errors.profile_id}>
          <select id="eab-profile" value={profileId} onChange={(e) => setProfileId(e.target.value)}>
            <option value="">Choose…</option>
            {acmeProfiles.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
          </select>
        </Field>
        <Field id="eab-owner" label="Owner" error={errors.owner_id}>
          <select id="eab-owner" value={ownerId} onChange={(e) => setOwnerId(e.target.value)}>
            <option value="">Choose…</option>
            {(owners.data?.data ?? []).map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
          </select>
        </Field>
        <Field id="eab-team" label="Team (optional)" error={errors.team_id}>
          <select id="eab-team" value={teamId} onChange={(e) => setTeamId(e.target.value)}>
            <option value="">None</option>
            {(teams.data?.data ?? []).map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
          </select>
        </Field>
        {formError(create.error, EAB_FIELDS) && <p className="field-error" role="alert">{formError(create.error, EAB_FIELDS)}</p>}
        <button type="submit" className="primary" disabled={create.isPending}>Create EAB key</button>
      </form>
    </>
  );
}
