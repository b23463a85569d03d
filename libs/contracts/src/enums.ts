/** Enum values are certctl's wire values (TitleCase for most, lowercase where upstream uses lowercase). */

export const CertificateStatus = {
  Pending: 'Pending',
  Active: 'Active',
  Expiring: 'Expiring',
  Expired: 'Expired',
  RenewalInProgress: 'RenewalInProgress',
  Failed: 'Failed',
  Revoked: 'Revoked',
  Archived: 'Archived',
} as const;
export type CertificateStatus = (typeof CertificateStatus)[keyof typeof CertificateStatus];

export const JobType = { Issuance: 'Issuance', Renewal: 'Renewal', Deployment: 'Deployment', Validation: 'Validation' } as const;
export type JobType = (typeof JobType)[keyof typeof JobType];

export const JobStatus = {
  Pending: 'Pending',
  AwaitingCSR: 'AwaitingCSR',
  AwaitingApproval: 'AwaitingApproval',
  Running: 'Running',
  Completed: 'Completed',
  Failed: 'Failed',
  Cancelled: 'Cancelled',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];
/** A job in one of these states can still be cancelled. */
export const CANCELLABLE_JOB_STATUSES: readonly JobStatus[] = ['Pending', 'AwaitingCSR', 'AwaitingApproval', 'Running'];

export const VerificationStatus = { Pending: 'pending', Success: 'success', Failed: 'failed', Skipped: 'skipped' } as const;
export type VerificationStatus = (typeof VerificationStatus)[keyof typeof VerificationStatus];

export const AgentStatus = { Online: 'Online', Offline: 'Offline', Degraded: 'Degraded' } as const;
export type AgentStatus = (typeof AgentStatus)[keyof typeof AgentStatus];

/** Issuer connector types (certctl §5.1). `local` is accepted as an alias of GenericCA. */
export const ISSUER_TYPES = [
  'GenericCA', 'local', 'ACME', 'StepCA', 'OpenSSL', 'Vault', 'DigiCert', 'Sectigo', 'GoogleCAS', 'AWSACMPCA',
  'Entrust', 'GlobalSign', 'EJBCA',
] as const;
export type IssuerType = (typeof ISSUER_TYPES)[number];

/** Deployment target types (certctl §5.2 plus our generic File target). */
export const TARGET_TYPES = [
  'NGINX', 'Apache', 'HAProxy', 'Postfix', 'Dovecot', 'Caddy', 'Traefik', 'Envoy', 'SSH', 'KubernetesSecrets', 'File',
  'F5', 'IIS', 'WinCertStore', 'JavaKeystore',
] as const;
export type TargetType = (typeof TARGET_TYPES)[number];
/** Spellings accepted on input for compatibility, and the type each one means. */
export const TARGET_TYPE_ALIASES: Readonly<Record<string, TargetType>> = { KubernetesSecret: 'KubernetesSecrets' };
/** A target type as clients may send it, in its canonical (certctl) spelling. */
export function canonicalTargetType(type: string): string {
  return TARGET_TYPE_ALIASES[type] ?? type;
}

export const POLICY_RULE_TYPES = [
  'AllowedIssuers', 'AllowedDomains', 'RequiredMetadata', 'AllowedEnvironments', 'RenewalLeadTime', 'CertificateLifetime',
] as const;
export type PolicyRuleType = (typeof POLICY_RULE_TYPES)[number];

export const POLICY_SEVERITIES = ['Warning', 'Error', 'Critical'] as const;
export type PolicySeverity = (typeof POLICY_SEVERITIES)[number];

/** certctl's statuses, and `skipped`: not sent because the channel is not configured (the reason is in last_error). */
export const NotificationStatus = { Pending: 'pending', Sent: 'sent', Failed: 'failed', Dead: 'dead', Read: 'read', Skipped: 'skipped' } as const;
export type NotificationStatus = (typeof NotificationStatus)[keyof typeof NotificationStatus];

export const NOTIFICATION_TYPES = [
  'ExpirationWarning', 'RenewalSuccess', 'RenewalFailure', 'DeploymentSuccess', 'DeploymentFailure', 'PolicyViolation',
  'Revocation',
  // Health checks (beyond certctl): a check's status changed.
  'HealthCheckDegraded', 'HealthCheckDown', 'HealthCheckCertMismatch', 'HealthCheckRecovered',
  // Identity (beyond certctl): someone signed in with the break-glass admin login.
  'BreakGlassLogin',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export const NOTIFICATION_CHANNELS = ['Email', 'Slack', 'Teams', 'PagerDuty', 'OpsGenie', 'Webhook'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

export const ActorType = { User: 'User', System: 'System', Agent: 'Agent', APIKey: 'APIKey', Anonymous: 'Anonymous' } as const;
export type ActorType = (typeof ActorType)[keyof typeof ActorType];

export const AUDIT_CATEGORIES = ['cert_lifecycle', 'auth', 'config'] as const;
export type AuditCategory = (typeof AUDIT_CATEGORIES)[number];

/** API key roles. operator = everything but key management; viewer = read only; auditor = audit read only. */
export const API_KEY_ROLES = ['admin', 'operator', 'viewer', 'auditor', 'agent', 'mcp', 'cli'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

export const KEY_ALGORITHMS = ['ECDSA', 'RSA', 'Ed25519'] as const;

/** Status of an endpoint health check (certctl's lowercase values). */
export const HEALTH_STATUSES = ['healthy', 'degraded', 'down', 'cert_mismatch', 'unknown'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];
