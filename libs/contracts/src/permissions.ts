/**
 * certctl's permission catalogue (certctl-spec §2.2): dotted names, `<resource>.<verb>`, granted through roles. The
 * names certctl has keep its spelling; the few our extra routes need are marked "ours". The database holds the
 * same list (table `permissions`, seeded by the RBAC migration); a test checks the two agree.
 */
export const PERMISSION_CATALOGUE = {
  'cert.read': 'List, read and export certificates and their versions',
  'cert.issue': 'Create certificates, renew them (one or in bulk)',
  'cert.edit': 'Update, deploy and re-assign certificates',
  'cert.revoke': 'Revoke a certificate',
  'cert.delete': 'Archive a certificate',
  'cert.bulk_revoke': 'Revoke certificates by criteria',
  'profile.read': 'Read certificate profiles',
  'profile.edit': 'Create and update certificate profiles',
  'profile.delete': 'Delete certificate profiles',
  'issuer.read': 'Read issuers, their budgets and intermediates',
  'issuer.edit': 'Create, update and test issuers',
  'issuer.delete': 'Delete issuers',
  'issuer.reissue': 'Start and follow a re-issue drill of every certificate of an issuer (ours)',
  'ca.hierarchy.manage': 'Create and retire intermediate CAs',
  'target.read': 'Read deployment targets',
  'target.edit': 'Create, update and test deployment targets',
  'target.delete': 'Delete deployment targets',
  'agent.read': 'Read agents and agent groups',
  'agent.edit': 'Register agents, edit agent groups',
  'agent.retire': 'Retire agents',
  'agent.heartbeat': 'Agent protocol: heartbeat and read its own record',
  'agent.job.poll': 'Agent protocol: poll work, submit CSRs, pick up certificates',
  'agent.job.complete': 'Agent protocol: report a job status',
  'agent.job.report': 'Agent protocol: report a deployment verification',
  'job.read': 'Read jobs',
  'job.cancel': 'Cancel jobs',
  'approval.read': 'Read approval requests',
  'approval.approve': 'Approve a job or request',
  'approval.reject': 'Reject a job or request',
  'verification.read': 'Read deployment verifications',
  'verification.run': 'Record a deployment verification',
  'policy.read': 'Read policies, renewal policies and violations',
  'policy.edit': 'Create and update policies and renewal policies',
  'policy.delete': 'Delete policies and renewal policies',
  'team.read': 'Read teams',
  'team.edit': 'Create and update teams',
  'team.delete': 'Delete teams',
  'owner.read': 'Read owners',
  'owner.edit': 'Create and update owners',
  'owner.delete': 'Delete owners',
  'notification.read': 'Read notifications and mark them read',
  'notification.edit': 'Create and requeue notifications',
  'discovery.read': 'Read discovered certificates, scans and the summary',
  'discovery.run': 'Report discoveries (agents), cancel discovery scans',
  'discovery.claim': 'Claim or dismiss discovered certificates',
  'network_scan.read': 'Read network scan targets and SCEP probes',
  'network_scan.edit': 'Create, update and delete network scan targets',
  'network_scan.run': 'Start a network scan',
  'healthcheck.read': 'Read endpoint health checks',
  'healthcheck.edit': 'Create and update endpoint health checks',
  'healthcheck.delete': 'Delete endpoint health checks',
  'healthcheck.acknowledge': 'Acknowledge a failing health check',
  'digest.read': 'Preview the expiry digest',
  'digest.send': 'Send the expiry digest',
  'stats.read': 'Read dashboard statistics',
  'metrics.read': 'Read JSON and Prometheus metrics under /api/v1',
  'report.read': 'Read reports (readiness) (ours)',
  'audit.read': 'Read and verify the audit trail',
  'audit.export': 'Export the audit trail',
  'crl.admin': 'Read the CRL cache state',
  'est.admin': 'EST administration',
  'scep.admin': 'SCEP administration',
  'acme.read': 'Read the ACME server accounts, orders and EAB keys (ours)',
  'acme.eab.manage': 'Create, revoke and delete ACME external account binding keys (ours)',
  'queue.admin': 'Open the queue dashboard, retry and promote jobs (ours)',
  'auth.key.list': 'List API keys',
  'auth.key.create': 'Create API keys',
  'auth.key.rotate': 'Rotate API keys',
  'auth.key.delete': 'Revoke API keys',
  'auth.role.list': 'List roles, permissions and grants',
  'auth.role.create': 'Create custom roles',
  'auth.role.edit': 'Edit custom roles and their permissions',
  'auth.role.delete': 'Delete custom roles',
  'auth.role.assign': 'Grant roles to keys, users and groups',
  'auth.role.revoke': 'Take roles back from keys, users and groups',
  'auth.bootstrap.use': 'Use the bootstrap token',
  'auth.session.list': 'List one\'s own sessions',
  'auth.session.list.all': 'List every user\'s sessions',
  'auth.session.revoke': 'End any session',
  'auth.oidc.list': 'List OpenID providers and group mappings',
  'auth.oidc.create': 'Add OpenID providers',
  'auth.oidc.edit': 'Edit OpenID providers',
  'auth.oidc.delete': 'Delete OpenID providers',
  'auth.breakglass.admin': 'Manage break-glass credentials',
  'auth.breakglass.login': 'Sign in with a break-glass credential',
  'auth.user.read': 'List users',
  'auth.user.deactivate': 'Deactivate and reactivate users',
} as const satisfies Record<string, string>;

export type Permission = keyof typeof PERMISSION_CATALOGUE;
export const PERMISSIONS = Object.keys(PERMISSION_CATALOGUE).sort() as Permission[];

export function isPermission(name: unknown): name is Permission {
  return typeof name === 'string' && Object.hasOwn(PERMISSION_CATALOGUE, name);
}

/** certctl's seven built-in roles, by name; their ids are `r-<name>`. */
export const BUILT_IN_ROLE_NAMES = ['admin', 'operator', 'viewer', 'agent', 'mcp', 'cli', 'auditor'] as const;
export type BuiltInRoleName = (typeof BUILT_IN_ROLE_NAMES)[number];

export function builtInRoleId(name: BuiltInRoleName): string {
  return `r-${name}`;
}

const READ_VERBS = /\.read$/;
/** Access management: kept from operators (certctl: "no RBAC management"). */
const AUTH = /^auth\./;
/** Held back from the operator as admin-only (credentials minted for the ACME server; the queue dashboard). */
const ADMIN_ONLY = new Set<Permission>(['acme.eab.manage', 'queue.admin']);
/** What MCP clients (an LLM at the wheel) may not do: delete, revoke, retire, mass re-issue. */
const DESTRUCTIVE = /\.(delete|revoke|bulk_revoke|retire|reissue)$/;

const OPERATOR = PERMISSIONS.filter((p) => !AUTH.test(p) && !ADMIN_ONLY.has(p));

/** Each built-in role's permissions (certctl-spec §2.2), all granted in the role's grant scope. */
export const BUILT_IN_ROLE_PERMISSIONS: Record<BuiltInRoleName, readonly Permission[]> = {
  admin: PERMISSIONS,
  operator: OPERATOR,
  viewer: PERMISSIONS.filter((p) => READ_VERBS.test(p) && !AUTH.test(p)).concat('audit.export').sort(),
  // certctl's agent role also holds cert.read; ours does not: an agent key (on a fleet host) would read the whole
  // inventory with it. An agent picks up its own certificates through agent.job.poll.
  agent: ['agent.heartbeat', 'agent.job.complete', 'agent.job.poll', 'agent.job.report', 'discovery.run'],
  mcp: OPERATOR.filter((p) => !DESTRUCTIVE.test(p)),
  cli: OPERATOR.concat('auth.key.create', 'auth.key.delete', 'auth.key.list', 'auth.key.rotate').sort(),
  auditor: ['audit.export', 'audit.read', 'auth.user.read'],
};

export const BUILT_IN_ROLE_DESCRIPTIONS: Record<BuiltInRoleName, string> = {
  admin: 'Everything',
  operator: 'Certificate, profile, issuer, target and agent lifecycle and every operational permission; no access management',
  viewer: 'Read-only',
  agent: 'The agent protocol for its own agent (work, CSRs, its certificates, job status, discoveries)',
  mcp: 'The operator minus destructive verbs (delete, revoke, retire, re-issue)',
  cli: 'The operator plus API key management',
  auditor: 'The audit trail and the user list',
};

/** Where a grant applies. */
export const GRANT_SCOPE_TYPES = ['global', 'team', 'issuer', 'profile'] as const;
export type GrantScopeType = (typeof GRANT_SCOPE_TYPES)[number];
