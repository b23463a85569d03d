/**
 * The API's JSON as the console reads it. Every field the server may leave out is optional: unset optional
 * fields can be omitted instead of sent as null.
 */
export interface Page<T> {
  data: T[];
  total: number;
  page?: number;
  per_page?: number;
}

export interface Certificate {
  id: string;
  name: string;
  common_name: string;
  sans?: string[] | null;
  environment?: string | null;
  owner_id?: string | null;
  team_id?: string | null;
  issuer_id?: string | null;
  renewal_policy_id?: string | null;
  certificate_profile_id?: string | null;
  status: string;
  expires_at?: string | null;
  last_renewal_at?: string | null;
  last_deployment_at?: string | null;
  tags?: Record<string, string> | null;
  revoked_at?: string | null;
  revocation_reason?: string | null;
  created_at?: string;
  updated_at?: string;
}

export interface CertificateVersion {
  id: string;
  serial_number?: string;
  not_before?: string;
  not_after?: string;
  fingerprint_sha256?: string;
  key_algorithm?: string;
  key_size?: number;
  pem_chain?: string;
  job_id?: string | null;
  created_at?: string;
}

export interface Job {
  id: string;
  type: string;
  certificate_id?: string;
  target_id?: string | null;
  agent_id?: string | null;
  status: string;
  attempts?: number;
  max_attempts?: number;
  last_error?: string | null;
  /** Why a Pending job is not running yet, e.g. "waiting for CA budget: … frees at …"; it runs at scheduled_at. */
  wait_reason?: string | null;
  created_at?: string;
  completed_at?: string | null;
  requested_by?: string;
  decided_by?: string | null;
  decision_note?: string | null;
  scheduled_at?: string | null;
  started_at?: string | null;
  updated_at?: string;
  deployment_result?: unknown;
  verification_status?: string | null;
  verified_at?: string | null;
  verification_fingerprint?: string | null;
  verification_error?: string | null;
}

/** A four-eyes request (GET /approvals): the CLI's and MCP's type, one declaration for every client (type only, nothing bundled). */
export type { Approval as ApprovalRequest } from '../../../../libs/client/src/types';

export interface NotificationEvent {
  id: string;
  type: string;
  channel: string;
  recipient?: string;
  message?: string;
  status: string;
  certificate_id?: string | null;
  retry_count?: number;
  /** The delivery budget the notifier runs with (CERTCTL_NOTIFICATION_MAX_ATTEMPTS). */
  max_attempts?: number;
  next_retry_at?: string | null;
  last_error?: string | null;
  error?: string | null;
  sent_at?: string | null;
  created_at?: string;
}

export interface Issuer {
  id: string;
  name: string;
  type: string;
  config?: Record<string, unknown> | null;
  enabled?: boolean;
  test_status?: string | null;
  created_at?: string;
}

export interface Target {
  id: string;
  name: string;
  type: string;
  agent_id?: string | null;
  config?: Record<string, unknown> | null;
  enabled?: boolean;
  created_at?: string;
}

export interface Agent {
  id: string;
  name: string;
  hostname?: string | null;
  status?: string;
  last_heartbeat_at?: string | null;
  version?: string | null;
  os?: string | null;
  architecture?: string | null;
  ip_address?: string | null;
}

export interface AuditEvent {
  id: string;
  actor?: string;
  actor_type?: string;
  action: string;
  resource_type?: string;
  resource_id?: string;
  event_category?: string;
  timestamp?: string;
  seq?: number | string;
  details?: Record<string, unknown> | null;
}

export interface DiscoveredCertificate {
  id: string;
  common_name?: string;
  sans?: string[] | null;
  status: string;
  not_after?: string | null;
  issuer_dn?: string | null;
  source_path?: string | null;
  source_format?: string | null;
  agent_id?: string | null;
  managed_certificate_id?: string | null;
  created_at?: string;
  updated_at?: string;
}

export interface NetworkScanTarget {
  id: string;
  name: string;
  cidrs?: string[];
  ports?: number[];
  enabled?: boolean;
  scan_interval_hours?: number;
  last_scan_at?: string | null;
  last_scan_certs_found?: number | null;
}

export interface DiscoveryScan {
  id: string;
  status?: string;
  source?: string;
  network_scan_target_id?: string | null;
  addresses_total?: number;
  addresses_done?: number;
  certificates_found?: number;
  certificates_new?: number;
  errors_count?: number;
  started_at?: string | null;
  completed_at?: string | null;
}

export interface DiscoverySummary {
  total?: number;
  unmanaged?: number;
  managed?: number;
  dismissed?: number;
  mismatched?: number;
  expiring_within_14_days?: number;
  expired?: number;
  scans_running?: number;
  last_scan_completed_at?: string | null;
}

export interface ChainVerification {
  intact: boolean;
  rows_checked?: number;
  first_break?: { seq?: number | null; id?: string | null; reason?: string } | null;
  keyed?: boolean;
  /** Set when the answer is weaker than it looks (no audit HMAC key configured). */
  warning?: string;
  verified_at?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  role: string;
  created_at?: string;
  expires_at?: string | null;
  last_used_at?: string | null;
  revoked_at?: string | null;
}

export interface StatsSummary {
  total_certificates: number;
  active_certificates?: number;
  expiring_certificates: number;
  expired_certificates: number;
  revoked_certificates?: number;
  pending_jobs?: number;
  failed_jobs?: number;
  total_agents?: number;
  active_agents?: number;
  notifications_dead?: number;
}
