import { SimpleResourcePage } from '../components/SimpleResourcePage';

/** Owners: who answers for a certificate; its alerts go to the owner's email by default. */
export default function OwnersPage() {
  return (
    <SimpleResourcePage
      permissions={{ edit: 'owner.edit', delete: 'owner.delete' }}
      title="Owners"
      path="/owners"
      kind="owner"
      intro="Who answers for a certificate; its alerts go to the owner's email unless a policy routes them elsewhere."
      columns={[
        { label: 'Email', render: (r) => String(r.email ?? '') },
        { label: 'Team', render: (r) => String(r.team_id ?? '—') },
      ]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'email', label: 'Email' },
        { name: 'team_id', label: 'Team id (optional)' },
      ]}
    />
  );
}
