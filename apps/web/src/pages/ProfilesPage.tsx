import { SimpleResourcePage } from '../components/SimpleResourcePage';

const duration = (seconds: unknown) => {
  const s = Number(seconds ?? 0);
  if (!s) return 'issuer default';
  return s % 86_400 === 0 ? `${s / 86_400} days` : `${Math.round(s / 3600)} hours`;
};

/** Certificate profiles: the key algorithms, lifetime, EKUs and SAN patterns a certificate may have. */
export default function ProfilesPage() {
  return (
    <SimpleResourcePage
      permissions={{ edit: 'profile.edit', delete: 'profile.delete', scoped: 'profile' }}
      title="Certificate profiles"
      path="/profiles"
      kind="profile"
      intro="What a certificate issued under the profile may be: key algorithms, maximum lifetime, extended key usages, SAN patterns."
      columns={[
        { label: 'Description', render: (r) => <span className="truncate" title={String(r.description ?? '')}>{String(r.description || '—')}</span> },
        { label: 'Max lifetime', render: (r) => duration(r.max_ttl_seconds) },
        { label: 'EKUs', render: (r) => (Array.isArray(r.allowed_ekus) && r.allowed_ekus.length ? r.allowed_ekus.join(', ') : '—') },
        { label: 'Approval', render: (r) => [r.requires_approval ? 'issuance' : '', r.edits_require_approval ? 'edits' : ''].filter(Boolean).join(', ') || 'no' },
        { label: 'Enabled', render: (r) => (r.enabled ? 'yes' : 'no') },
      ]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'description', label: 'Description' },
        { name: 'max_ttl_seconds', label: 'Maximum lifetime (seconds)', kind: 'number', hint: '0 = the issuer default' },
        { name: 'allowed_ekus', label: 'Extended key usages', kind: 'list', hint: 'e.g. serverAuth, clientAuth' },
        { name: 'required_san_patterns', label: 'SAN patterns', kind: 'list', hint: 'Regular expressions every SAN must match' },
        { name: 'allow_short_lived', label: 'Allow short-lived', kind: 'checkbox' },
        { name: 'must_staple', label: 'OCSP must-staple', kind: 'checkbox' },
        { name: 'requires_approval', label: 'Requires approval', kind: 'checkbox' },
        { name: 'edits_require_approval', label: 'Edits require approval', kind: 'checkbox', hint: 'A change to this profile waits on the Approvals page until someone else approves it' },
        { name: 'enabled', label: 'Enabled', kind: 'checkbox' },
      ]}
    />
  );
}
