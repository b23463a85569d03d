import { SimpleResourcePage } from '../components/SimpleResourcePage';

/** Agent groups: agents matched by OS, architecture, IP range and version, plus agents included or excluded by hand. */
export default function AgentGroupsPage() {
  return (
    <SimpleResourcePage
      permissions={{ edit: 'agent.edit', delete: 'agent.edit' }}
      title="Agent groups"
      path="/agent-groups"
      kind="agent group"
      detailPath="/agent-groups"
      intro="An agent is a member when it matches every criterion set (empty matches all), unless excluded by hand; agents can also be included by hand."
      columns={[
        {
          label: 'Criteria',
          render: (r) =>
            [['OS', r.match_os], ['arch', r.match_architecture], ['IP', r.match_ip_cidr], ['version', r.match_version]]
              .filter(([, v]) => v)
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ') || 'every agent',
        },
        { label: 'Enabled', render: (r) => (r.enabled === false ? 'no' : 'yes') },
      ]}
      fields={[
        { name: 'name', label: 'Name' },
        { name: 'description', label: 'Description' },
        { name: 'match_os', label: 'OS', hint: 'e.g. linux' },
        { name: 'match_architecture', label: 'Architecture', hint: 'e.g. amd64' },
        { name: 'match_ip_cidr', label: 'IP range (CIDR)', hint: 'e.g. 10.0.0.0/8' },
        { name: 'match_version', label: 'Agent version' },
        { name: 'enabled', label: 'Enabled', kind: 'checkbox' },
      ]}
    />
  );
}
