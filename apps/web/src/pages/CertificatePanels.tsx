import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { FormEvent, useState } from 'react';
import { api, ApiRequestError } from '../api/client';
import type { AuditEvent, Certificate, CertificateVersion, Job, Page } from '../api/types';
import { useSession } from '../auth/session';
import { Field, fieldErrors, formError } from '../components/form';
import { absoluteTime, RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { Table } from '../components/table';
import { useToast } from '../components/toasts';
import { askResponder, OcspStatus } from './ocsp-check';
import { saveBlob } from '../components/download';

type Named = { id: string; name: string };

/** The newest version and its key as a password-protected PKCS#12 file; the password is never stored. */
export function Pkcs12Export({ certificate, onDone }: { certificate: Certificate; onDone(): void }) {
  const toast = useToast();
  const [password, setPassword] = useState('');
  const [problem, setProblem] = useState('');
  const exportIt = useMutation({
    mutationFn: () => api.postForBlob(`/certificates/${encodeURIComponent(certificate.id)}/export/pkcs12`, { password }),
    onSuccess: (blob) => {
      saveBlob(blob, `${certificate.id}.p12`);
      toast.success('PKCS#12 file exported');
      onDone();
    },
    onError: (err) => setProblem(err instanceof ApiRequestError && err.status === 409 ? 'The private key of this certificate stays on its agent: it cannot be exported here.' : err instanceof Error ? err.message : String(err)),
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    if (!password) return setProblem('Choose a password that will protect the file (1-128 characters).');
    setProblem('');
    exportIt.mutate();
  }
  return (
    <form className="card form" aria-label="Export PKCS#12" onSubmit={submit} noValidate>
      <Field id="p12-password" label="Password for the file" error={problem} hint="The file holds the private key: whoever has it and this password can use the certificate.">
        <input id="p12-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </Field>
      <div className="form-actions">
        <button type="button" onClick={onDone}>Cancel</button>
        <button type="submit" className="primary" disabled={exportIt.isPending}>Export</button>
      </div>
    </form>
  );
}

/** Moves the certificate to another renewal policy, profile or owner (PUT with those fields only). */
export function AssignmentForm({ certificate, onDone }: { certificate: Certificate; onDone(): void }) {
  const toast = useToast();
  const queryClient = useQueryClient();
  const options = (path: string) => ({ queryKey: [path, 'options'], queryFn: () => api.get<Page<Named>>(path, { per_page: 500 }) });
  const policies = useQuery(options('/renewal-policies'));
  const profiles = useQuery(options('/profiles'));
  const owners = useQuery(options('/owners'));
  const [form, setForm] = useState({
    renewal_policy_id: certificate.renewal_policy_id ?? '',
    certificate_profile_id: certificate.certificate_profile_id ?? '',
    owner_id: certificate.owner_id ?? '',
  });
  const save = useMutation({
    mutationFn: () =>
      api.put<Certificate>(`/certificates/${encodeURIComponent(certificate.id)}`, {
        renewal_policy_id: form.renewal_policy_id || undefined,
        certificate_profile_id: form.certificate_profile_id || null,
        owner_id: form.owner_id || undefined,
      }),
    onSuccess: () => {
      toast.success('Certificate updated');
      void queryClient.invalidateQueries({ queryKey: ['certificates'] });
      onDone();
    },
  });
  const errors = fieldErrors(save.error);
  const select = (name: keyof typeof form, label: string, list: Named[] | undefined, none?: string) => (
    <Field id={`assign-${name}`} label={label} error={errors[name]}>
      <select id={`assign-${name}`} value={form[name]} onChange={(e) => setForm({ ...form, [name]: e.target.value })}>
        {none !== undefined && <option value="">{none}</option>}
        {list?.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
      </select>
    </Field>
  );
  return (
    <form className="card form" aria-label="Change policy, profile or owner" onSubmit={(e) => { e.preventDefault(); save.mutate(); }} noValidate>
      {select('renewal_policy_id', 'Renewal policy', policies.data?.data)}
      {select('certificate_profile_id', 'Profile', profiles.data?.data, '(no profile)')}
      {select('owner_id', 'Owner', owners.data?.data)}
      {formError(save.error, Object.keys(form)) && <p className="field-error" role="alert">{formError(save.error, Object.keys(form))}</p>}
      <div className="form-actions">
        <button type="button" onClick={onDone}>Cancel</button>
        <button type="submit" className="primary" disabled={save.isPending}>Save</button>
      </div>
    </form>
  );
}


/** Each version's serial as our OCSP responder answers it right now (the question relying parties ask). */
export function RevocationPanel({ certificate, versions }: { certificate: Certificate; versions: CertificateVersion[] }) {
  const answers = useQuery({
    queryKey: ['certificates', 'ocsp', certificate.id, certificate.status, versions.map((v) => v.id).join()],
    queryFn: async () => Promise.all(versions.map(async (v) => [v.id, await askResponder(certificate.issuer_id ?? '', v.pem_chain ?? '')] as const)),
    enabled: versions.length > 0 && Boolean(certificate.issuer_id),
  });
  const byVersion = new Map<string, OcspStatus>(answers.data ?? []);
  if (!versions.length) return <p className="state state-empty">Not issued yet: there is no serial to ask about.</p>;
  return (
    <>
      <p className="muted">
        Asked just now at <span className="mono">/.well-known/pki/ocsp/{certificate.issuer_id}</span>; the CRL is at{' '}
        <a href={`/.well-known/pki/crl/${encodeURIComponent(certificate.issuer_id ?? '')}`}>/.well-known/pki/crl/{certificate.issuer_id}</a>.
      </p>
      <QueryState isLoading={answers.isLoading} error={answers.error}>
        <Table label="OCSP status by serial">
          <thead><tr><th scope="col">Serial</th><th scope="col">Valid to</th><th scope="col">OCSP answer</th><th scope="col">Details</th></tr></thead>
          <tbody data-testid="ocsp-rows">
            {versions.map((v) => {
              const a = byVersion.get(v.id);
              return (
                <tr key={v.id} data-testid={`ocsp-${v.serial_number}`}>
                  <td className="mono">{v.serial_number}</td>
                  <td><RelativeTime iso={v.not_after} /></td>
                  <td>{a ? <StatusBadge status={a.status} /> : '…'}</td>
                  <td>
                    {a?.status === 'revoked' && <>revoked {a.revokedAt ? absoluteTime(a.revokedAt) : ''}{a.reason ? `, ${a.reason}` : ''}</>}
                    {a?.status === 'error' && <span className="error-text">{a.error}</span>}
                    {(a?.status === 'good' || a?.status === 'unknown') && a.thisUpdate && <>as of {absoluteTime(a.thisUpdate)}</>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </Table>
      </QueryState>
    </>
  );
}

interface TimelineEvent {
  at: string;
  kind: 'issued' | 'renewed' | 'deployed' | 'verified' | 'revoked' | 'failed' | 'changed';
  text: string;
}

/** Issued, renewed, deployed, verified, revoked: from the versions, the jobs, and (for keys that may read it) the audit trail. */
export function LifecycleTimeline({ certificate, versions }: { certificate: Certificate; versions: CertificateVersion[] }) {
  const session = useSession();
  const id = certificate.id;
  const jobs = useQuery({ queryKey: ['certificates', 'timeline-jobs', id, certificate.updated_at], queryFn: () => api.get<Page<Job>>('/jobs', { certificate_id: id, per_page: 200 }) });
  const audit = useQuery({
    queryKey: ['certificates', 'timeline-audit', id, certificate.updated_at],
    queryFn: () => api.get<Page<AuditEvent>>('/audit', { resource_type: 'certificate', resource_id: id, per_page: 200 }),
    enabled: session.can('audit.read', 'any'),
  });
  const events: TimelineEvent[] = [];
  const oldestFirst = [...versions].sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
  oldestFirst.forEach((v, i) => v.created_at && events.push({ at: v.created_at, kind: i === 0 ? 'issued' : 'renewed', text: `${i === 0 ? 'Issued' : 'Renewed'}: serial ${v.serial_number}` }));
  for (const j of jobs.data?.data ?? []) {
    if (j.type === 'Deployment' && j.status === 'Completed' && j.completed_at) events.push({ at: j.completed_at, kind: 'deployed', text: `Deployed to ${j.target_id ?? 'its target'}` });
    if (j.status === 'Failed' && j.completed_at) events.push({ at: j.completed_at, kind: 'failed', text: `${j.type} failed: ${j.last_error ?? 'no reason given'}` });
    if (j.verified_at) events.push({ at: j.verified_at, kind: 'verified', text: `Verification on ${j.target_id ?? 'its target'}: ${j.verification_status ?? ''}` });
  }
  if (certificate.revoked_at) events.push({ at: certificate.revoked_at, kind: 'revoked', text: `Revoked (${certificate.revocation_reason || 'unspecified'})` });
  // The revocation already shows from the certificate itself; every other recorded action is a step of its own.
  for (const a of audit.data?.data ?? []) {
    if (a.action === 'certificate_revoked' || !a.timestamp) continue;
    events.push({ at: a.timestamp, kind: 'changed', text: `${a.action.replace(/_/g, ' ')} by ${a.actor ?? 'someone'}` });
  }
  events.sort((a, b) => b.at.localeCompare(a.at));
  return (
    <QueryState isLoading={jobs.isLoading} error={jobs.error} isEmpty={events.length === 0} empty="Nothing has happened to this certificate yet.">
      <ol className="timeline" data-testid="timeline">
        {events.map((e, i) => (
          <li key={i} className={`timeline-${e.kind}`} data-kind={e.kind}>
            <StatusBadge status={e.kind} /> <span>{e.text}</span> <RelativeTime iso={e.at} />
          </li>
        ))}
      </ol>
    </QueryState>
  );
}
