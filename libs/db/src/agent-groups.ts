/**
 * Agent-group membership as SQL, shared by the api (GET /agent-groups/{id}/members) and the orchestrator's renewal
 * sweep (renewal policies scoped to a group), so both read one definition (certctl §10.5):
 *  - an active (not retired) agent is a member when it matches every non-empty criterion of the group: OS and
 *    architecture (case-insensitive), IP CIDR (the agent's reported address inside it; a free-text address never
 *    matches), version (exact, or a prefix ending in `*`). A group whose criteria are all empty matches nobody
 *    dynamically: it is manual only;
 *  - a manual include makes an agent a member whatever the criteria say;
 *  - a manual exclude wins over everything.
 *
 * `groupsWhere` is a condition on the alias `g` (agent_groups) choosing the groups evaluated, e.g. `g.id = $1`.
 * The result rows are (agent_group_id, agent_id, membership) with membership `include` (named by a manual
 * include) or `dynamic` (matched by the criteria).
 */
export function agentGroupMembershipSql(groupsWhere: string): string {
  return `
    SELECT g.id AS agent_group_id, a.id AS agent_id,
           CASE WHEN o.membership_type = 'include' THEN 'include' ELSE 'dynamic' END AS membership
      FROM agent_groups g
     CROSS JOIN agents a
      LEFT JOIN agent_group_members o ON o.agent_group_id = g.id AND o.agent_id = a.id
     WHERE (${groupsWhere})
       AND a.retired_at IS NULL
       AND o.membership_type IS DISTINCT FROM 'exclude'
       AND (o.membership_type = 'include'
            OR ((g.match_os <> '' OR g.match_architecture <> '' OR g.match_ip_cidr <> '' OR g.match_version <> '')
                AND (g.match_os = '' OR lower(a.os) = lower(g.match_os))
                AND (g.match_architecture = '' OR lower(a.architecture) = lower(g.match_architecture))
                AND (g.match_ip_cidr = '' OR certctl_try_inet(a.ip_address) <<= g.match_ip_cidr::inet)
                AND (g.match_version = '' OR a.version = g.match_version
                     OR (right(g.match_version, 1) = '*' AND starts_with(a.version, left(g.match_version, -1))))))`;
}
