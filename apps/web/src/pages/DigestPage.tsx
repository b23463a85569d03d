import { useMutation, useQuery } from '@tanstack/react-query';
import { FormEvent, useState } from 'react';
import { Can } from '../auth/session';
import { Field, fieldErrors, formError } from '../components/form';
import { useToast } from '../components/toasts';
import { Link } from 'react-router';
import { api } from '../api/client';
import { Expiry, RelativeTime, StatusBadge } from '../components/format';
import { QueryState } from '../components/query-state';
import { Table } from '../components/table';
import { useDocumentTitle } from '../components/title';

interface Digest {
  generated_at: string;
  window_days: number;
  total_expiring: number;
  total_expired: number;
  subject: string;
  html: string;
  certificates: Array<{ id: string; name: string; common_name: string; status: string; expires_at: string; days_left: number; owner_email?: string }>;
}

/** The expiry digest as it would be sent now: its subject, the certificates it lists, and the email itself. */
export default function DigestPage() {
  useDocumentTitle('Notification digest');
  const digest = useQuery({ queryKey: ['digest', 'preview'], queryFn: () => api.get<Digest>('/digest/preview', { format: 'json' }) });
  const d = digest.data;
  const toast = useToast();
  const [recipients, setRecipients] = useState('');
  const send = useMutation({
    mutationFn: () => {
      const list = recipients.split(/[\s,;]+/).filter(Boolean);
      return api.post<{ recipients: string[]; notification_ids: string[] }>('/digest/send', list.length ? { recipients: list } : {});
    },
    onSuccess: (r) => {
      toast.success(`Digest queued for ${r.recipients.join(', ') || 'nobody'}`);
      setRecipients('');
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    send.mutate();
  }
  return (
    <section aria-labelledby="digest-title">
      <h1 id="digest-title">Notification digest</h1>
      <QueryState isLoading={digest.isLoading} error={digest.error}>
        {d && (
          <>
            <dl className="card overview" data-testid="digest-summary">
              <dt>Subject</dt><dd>{d.subject}</dd>
              <dt>Window</dt><dd>{d.window_days} days</dd>
              <dt>Expiring</dt><dd>{d.total_expiring}</dd>
              <dt>Expired</dt><dd>{d.total_expired}</dd>
              <dt>Generated</dt><dd><RelativeTime iso={d.generated_at} /></dd>
            </dl>
            <h2>Certificates in the digest</h2>
            {d.certificates.length ? (
              <Table label="Digest certificates">
                <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Expires</th><th scope="col">Owner</th></tr></thead>
                <tbody data-testid="digest-rows">
                  {d.certificates.map((c) => (
                    <tr key={c.id}>
                      <td><Link to={`/certificates/${encodeURIComponent(c.id)}`}>{c.name}</Link></td>
                      <td><StatusBadge status={c.status} /></td>
                      <td><Expiry iso={c.expires_at} /></td>
                      <td>{c.owner_email ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            ) : (
              <p className="state state-empty">Nothing expires within the window: the digest would be empty.</p>
            )}
            <Can permission="digest.send">
              <form className="card form" aria-label="Send the digest now" onSubmit={submit} noValidate>
                <Field id="digest-recipients" label="Recipients" error={fieldErrors(send.error).recipients} hint="Email addresses, comma-separated; empty sends to CERTCTL_DIGEST_RECIPIENTS">
                  <input id="digest-recipients" value={recipients} onChange={(e) => setRecipients(e.target.value)} />
                </Field>
                {formError(send.error, ['recipients']) && <p className="field-error" role="alert">{formError(send.error, ['recipients'])}</p>}
                <div className="form-actions">
                  <button type="submit" className="primary" disabled={send.isPending}>Send now</button>
                </div>
              </form>
            </Can>
            <h2>The email</h2>
            {/* Rendered with every sandbox restriction: no script, no form, no navigation. */}
            <iframe title="Digest email preview" className="card digest-frame" sandbox="" srcDoc={d.html} />
          </>
        )}
      </QueryState>
    </section>
  );
}
