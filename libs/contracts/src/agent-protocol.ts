/**
 * The agent protocol's wire shapes (certctl's `/api/v1/agents/{id}/…` calls), shared by the api, which answers
 * them, and the agent, which sends them. Types and literal lists only: the agent is bundled with esbuild and
 * must not pull server code in through this file.
 */

/** POST /agents/{id}/heartbeat: what the agent tells the server about its host. */
export interface AgentHeartbeat {
  version?: string;
  hostname?: string;
  os?: string;
  architecture?: string;
  /** The host's non-internal addresses, comma separated (one field upstream). */
  ip_address?: string;
}

/**
 * GET /agents/{id}/work query. `resume=true`: the agent has no record of its Running deployments (it has just
 * started, or its previous work answer was lost), so the server hands those out again along with new work.
 */
export interface AgentWorkQuery {
  resume?: 'true' | 'false';
  /**
   * Long-poll: with no work waiting, the server holds the request up to this many seconds and answers as soon as
   * work for the agent appears (or with no jobs at the end). 0 or absent: answer at once.
   */
  wait?: number;
}

/** The longest `wait` of one work request, in seconds (kept under common proxies' idle timeouts). */
export const AGENT_WORK_MAX_WAIT_SECONDS = 120;

/** One item of the work answer (certctl's WorkItem): a claimed deployment, or an issuance job waiting for a CSR. */
export interface WorkItem {
  id: string;
  type: string;
  certificate_id: string;
  common_name: string;
  sans: string[];
  target_id: string | null;
  target_type: string | null;
  target_config: Record<string, unknown> | null;
  status: string;
  /**
   * A Running deployment claimed for this agent by an earlier poll, handed out again because the agent asked to
   * resume (its first answer may never have arrived). Absent on work claimed by this poll.
   */
  redelivered?: boolean;
}

export interface AgentWorkAnswer {
  jobs: WorkItem[];
  count: number;
}

/** POST /agents/{id}/csr. */
export interface AgentCsrSubmission {
  certificate_id: string;
  csr_pem: string;
}

export interface AgentCsrAnswer {
  status: 'csr_accepted';
  job_id: string;
}

/** GET /agents/{id}/certificates/{certificate_id}: the leaf first, then its chain. */
export interface IssuedCertificate {
  certificate_id: string;
  certificate_pem: string;
  chain_pem: string;
  serial_number: string;
}

export const JOB_REPORT_STATUSES = ['Running', 'Completed', 'Failed'] as const;
export const DEPLOY_FAILED_STAGES = ['validate', 'reload', 'post_verify', 'other'] as const;
export const DEPLOY_ROLLBACK_OUTCOMES = ['restored', 'also_failed'] as const;
export const DEPLOY_VERIFICATION_STATUSES = ['success', 'failed', 'skipped'] as const;

/** POST /agents/{id}/jobs/{job_id}/status: a job's outcome, with a deployment's result for the deploy counters. */
export interface JobStatusReport {
  status: (typeof JOB_REPORT_STATUSES)[number];
  error?: string;
  skipped_as_idempotent?: boolean;
  failed_stage?: (typeof DEPLOY_FAILED_STAGES)[number];
  rollback?: (typeof DEPLOY_ROLLBACK_OUTCOMES)[number];
  backup_paths?: string[];
  verification_status?: (typeof DEPLOY_VERIFICATION_STATUSES)[number];
  verification_fingerprint?: string;
  verification_error?: string;
}

export const DISCOVERED_SOURCE_FORMATS = ['PEM', 'DER'] as const;

/** POST /agents/{id}/discoveries: certificate files found under the agent's discovery directories. */
export interface AgentDiscoveryReport {
  agent_id?: string;
  directories?: string[];
  certificates: Array<{ pem_data: string; source_path: string; source_format?: (typeof DISCOVERED_SOURCE_FORMATS)[number] }>;
  errors?: string[];
  scan_duration_ms?: number;
}
