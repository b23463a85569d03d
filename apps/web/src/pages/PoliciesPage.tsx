import { StatusBadge } from '../components/format';
import { SimpleResourcePage } from '../components/SimpleResourcePage';

const RULE_TYPES = ['AllowedIssuers', 'AllowedDomains', 'RequiredMetadata', 'AllowedEnvironments', 'RenewalLeadTime', 'CertificateLifetime'] as const;
const SEVERITIES = ['Warning', 'Error', 'Critical'] as const;

/** Policy rules: what every certificate must satisfy (violations are recorded and alerted). */
export default function PoliciesPage() {
  return (
    <SimpleResourcePage
      permissions={{ edit: 'policy.edit', delete: 'policy.delete' }}
      title="Policies"
      path="/policies"
      kind="policy"
      intro="Rules every certificate is checked against; a breach is recorded as a violation and alerted by its severity."
      columns={[
        { label: 'Type', render: (r) => String(r.type ?? '') },
        { label: 'Severity', render: (r) => <StatusBadge status={String(r.severity ?? '')} /> },
        { label: 'Enabled', render: (r) => (r.enabled ? 'yes' : 'no') },
        { label: 'Config', render: (r) => <span className="mono truncate" title={JSON.stringify(r.config)}>{JSON.stringify(r.config)}</span> },
      ]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'type', label: 'Type', kind: 'select', options: RULE_TYPES },
        { name: 'severity', label: 'Severity', kind: 'select', options: SEVERITIES },
        { name: 'config', label: 'Config (JSON)', kind: 'json', hint: 'e.g. {"domains": ["example.com"]} or {"max_days": 90}' },
        { name: 'enabled', label: 'Enabled', kind: 'checkbox' },
      ]}
    />
  );
}
