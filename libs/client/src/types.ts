/**
 * The wire shapes the CLI and the MCP server read, as the api sends them (certctl's JSON field names).
 * Optional fields may be absent as well as null (unset fields are being dropped from the JSON): read them
 * with `?.` / `??`, never assume presence.
 */

export interface Page<T> {
  data: T[];
  total: number;
  page: number;
  per_page: number;
}

export interface Certificate {
  id: string;
  name: string;
  common_name: string;
  sans?: string[];
  environment?: string;
  owner_id?: string;
  team_id?: string | null;
  issuer_id?: string;
  renewal_policy_id?: string;
  certificate_profile_id?: string | null;
  status: string;
  expires_at?: string | null;
  tags?: Record<string, string>;
  last_renewal_at?: string | null;
  last_deployment_at?: string | null;
  revoked_at?: string | null;
  revocation_reason?: string | null;
  target_ids?: string[];
  created_at?: string;
  updated_at?: string;
}

/** POST /certificates: what a new managed certificate needs (the rest has defaults on the server). */
export interface NewCertificate {
  name: string;
  common_name: string;
  sans?: string[];
  owner_id: string;
  issuer_id: string;
  team_id?: string;
  renewal_policy_id?: string;
  certificate_profile_id?: string;
  environment?: string;
  tags?: Record<string, string>;
}

export interface CertificateQuery {
  status?: string;
  environment?: string;
  owner_id?: string;
  team_id?: string;
  issuer_id?: string;
  profile_id?: string;
  expires_before?: string;
  expires_after?: string;
  search?: string;
  sort?: string;
  page?: number;
  per_page?: number;
}

export interface RenewalTriggered {
  status: string;
  job_id: string;
  job_status?: string;
  cancelled_job_ids?: string[];
}

/** RFC 5280 reason names certctl accepts for a revocation. */
export const REVOCATION_REASONS = [
  'unspecified', 'keyCompromise', 'caCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation',
  'certificateHold', 'privilegeWithdrawn',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** Certificate criteria shared by bulk renew and bulk revoke (certctl §10.7). */
export interface BulkCriteria {
  certificate_ids?: string[];
  profile_id?: string;
  owner_id?: string;
  agent_id?: string;
  issuer_id?: string;
  team_id?: string;
}

export interface BulkRenewResult {
  total_matched: number;
  total_enqueued: number;
  total_skipped: number;
  total_failed: number;
  enqueued_jobs?: Array<{ certificate_id: string; job_id: string; job_status?: string }>;
  errors?: Array<{ certificate_id: string; error: string }>;
}

export interface BulkRevokeResult {
  total_matched: number;
  total_revoked: number;
  total_skipped: number;
  total_failed: number;
  errors?: Array<{ certificate_id: string; error: string }>;
}

export interface PemExport {
  certificate_id: string;
  version_id?: string;
  serial_number?: string;
  fingerprint_sha256?: string;
  not_after?: string;
  cert_pem: string;
  chain_pem?: string;
  full_pem: string;
}

export interface Job {
  id: string;
  type: string;
  certificate_id: string;
  target_id?: string | null;
  agent_id?: string | null;
  status: string;
  attempts?: number;
  max_attempts?: number;
  last_error?: string | null;
  requested_by?: string;
  decided_by?: string | null;
  created_at?: string;
  completed_at?: string | null;
}

/** A four-eyes request: an issuance held by its profile, or an edit of an approval-gated profile. */
export interface Approval {
  id: string;
  approval_kind: 'cert_issuance' | 'profile_edit';
  certificate_id?: string | null;
  job_id?: string | null;
  profile_id?: string | null;
  requested_by: string;
  state: 'pending' | 'approved' | 'rejected' | 'expired';
  decided_by?: string | null;
  decided_at?: string | null;
  decision_note?: string | null;
  payload?: Record<string, unknown> | null;
  metadata?: Record<string, unknown>;
  created_at: string;
  expires_at: string;
}

export interface ApprovalQuery {
  state?: string;
  approval_kind?: string;
  page?: number;
  per_page?: number;
}

export interface JobQuery {
  status?: string;
  type?: string;
  certificate_id?: string;
  agent_id?: string;
  page?: number;
  per_page?: number;
}

/** Jobs in these states will not change by themselves any more. */
export const FINISHED_JOB_STATUSES: readonly string[] = ['Completed', 'Failed', 'Cancelled'];

export interface Notification {
  id: string;
  type: string;
  certificate_id?: string | null;
  channel: string;
  recipient?: string;
  message?: string;
  status: string;
  retry_count?: number;
  next_retry_at?: string | null;
  last_error?: string | null;
  sent_at?: string | null;
  created_at?: string;
}

export interface NotificationQuery {
  status?: string;
  type?: string;
  channel?: string;
  certificate_id?: string;
  page?: number;
  per_page?: number;
}

export interface BulkRequeueFilter {
  type?: string;
  channel?: string;
  certificate_id?: string;
  created_after?: string;
  created_before?: string;
}

export interface BulkRequeueResult {
  total_matched: number;
  total_requeued: number;
  total_skipped: number;
  notification_ids?: string[];
}

export interface Agent {
  id: string;
  name: string;
  hostname?: string;
  status: string;
  last_heartbeat_at?: string | null;
  os?: string;
  architecture?: string;
  ip_address?: string;
  version?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  role: string;
  agent_id?: string | null;
  created_by?: string;
  created_at?: string;
  expires_at?: string | null;
  last_used_at?: string | null;
  revoked_at?: string | null;
}

/** The created key; `api_key` is the secret, shown this once (`key` is the same value, the route's first name for it). */
export type CreatedApiKey = ApiKey & { api_key: string; key: string };

export interface Target {
  id: string;
  name: string;
  type: string;
  agent_id?: string | null;
  config?: Record<string, unknown> | null;
  enabled?: boolean;
  test_status?: string | null;
  last_tested_at?: string | null;
  created_at?: string;
}

export interface NewTarget {
  name: string;
  type: string;
  agent_id?: string;
  config?: Record<string, unknown>;
}

export interface TargetTestResult {
  target_id: string;
  status: string;
  message: string;
  tested_at?: string;
}

/** GET /auth/check and /auth/me: who the caller is and what it may do, where. */
export interface AuthCheck {
  actor?: string;
  role?: string;
  user?: string;
  admin?: boolean;
  actor_id?: string;
  actor_type?: string;
  roles?: string[];
  role_grants?: Array<{ role_id: string; role_name: string; scope_type: string; scope_id?: string; expires_at?: string; via: string }>;
  effective_permissions?: Array<{ permission: string; scope_type: string; scope_id?: string }>;
  permissions?: string[];
}

/** A role granted to a key or user (POST /auth/keys/{id}/roles). */
export interface RoleGrant {
  id: string;
  actor_type: string;
  actor_id: string;
  role_id: string;
  role_name: string;
  scope_type: string;
  scope_id?: string | null;
  expires_at?: string | null;
  granted_by: string;
  created_at: string;
}

export interface NetworkScanTarget {
  id: string;
  name: string;
  cidrs?: string[];
  ports?: number[];
  enabled?: boolean;
}

export interface DiscoveryScan {
  id: string;
  status: string;
  network_scan_target_id?: string | null;
  addresses_total?: number;
  addresses_done?: number;
  certificates_found?: number;
  certificates_new?: number;
  errors_count?: number;
  error_summary?: Record<string, number>;
  last_error?: string | null;
  progress_percent?: number;
  eta_seconds?: number | null;
  started_at?: string | null;
  completed_at?: string | null;
}

export const FINISHED_SCAN_STATUSES: readonly string[] = ['Completed', 'Cancelled', 'Failed'];

export interface ScanStarted {
  scan_id: string;
  scan?: DiscoveryScan;
}

export interface AuditVerification {
  intact: boolean;
  rows_checked: number;
  first_break?: { seq?: number | null; id?: string | null; reason: string } | null;
  /** Whether checkpoints signed with CERTCTL_AUDIT_HMAC_KEY vouch for the chain. */
  keyed?: boolean;
  checkpoints_checked?: number;
  latest_checkpoint?: { seq: number; row_hash: string; mac: string } | null;
  unsigned_rows?: number;
  /** Set when the answer is weaker than it looks (no key configured). */
  warning?: string;
  verified_at?: string;
}

/** certctl's DashboardSummary. */
export interface StatsSummary {
  total_certificates: number;
  active_certificates: number;
  expiring_certificates: number;
  expired_certificates: number;
  revoked_certificates?: number;
  pending_certificates?: number;
  failed_certificates?: number;
  archived_certificates?: number;
  total_agents: number;
  active_agents?: number;
  offline_agents?: number;
  pending_jobs?: number;
  running_jobs?: number;
  failed_jobs?: number;
  complete_jobs?: number;
  notifications_dead?: number;
  completed_at?: string;
}
