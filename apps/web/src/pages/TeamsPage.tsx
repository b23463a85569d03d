import { SimpleResourcePage } from '../components/SimpleResourcePage';

/** Teams: groups of owners; certificates can be filtered and reassigned by team. */
export default function TeamsPage() {
  return (
    <SimpleResourcePage
      permissions={{ edit: 'team.edit', delete: 'team.delete' }}
      title="Teams"
      path="/teams"
      kind="team"
      intro="Groups of owners. A certificate belongs to a team, so lists can be filtered and reassigned by team."
      columns={[{ label: 'Description', render: (r) => String(r.description ?? '') || '—' }]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'description', label: 'Description' },
      ]}
    />
  );
}
