import { CertctlApiError, CertctlConfigError, CertctlConnectionError, FieldProblem } from './errors';
import type { ClientSettings } from './settings';
import type {
  Agent, ApiKey, AuditVerification, AuthCheck, BulkCriteria, BulkRenewResult, BulkRequeueFilter, BulkRequeueResult, BulkRevokeResult,
  Approval, ApprovalQuery, Certificate, CertificateQuery, CreatedApiKey, DiscoveryScan, Job, JobQuery, NetworkScanTarget, Notification, RoleGrant,
  NewCertificate, NewTarget, NotificationQuery, Page, PemExport, RenewalTriggered, RevocationReason, ScanStarted, StatsSummary, Target,
  TargetTestResult,
} from './types';

type Query = Record<string, string | number | boolean | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
}

/**
 * A typed client of the REST v1 api, shared by the CLI and the MCP server: one method per call they make,
 * Bearer auth, certctl's error shape turned into CertctlApiError. It runs on Node's fetch and holds no state
 * besides its settings, so one instance serves concurrent calls.
 */
export class CertctlClient {
  constructor(private readonly settings: ClientSettings) {}

  get serverUrl(): string {
    return this.settings.serverUrl;
  }

  // Certificates
  listCertificates(query: CertificateQuery = {}): Promise<Page<Certificate>> {
    return this.request('GET', '/certificates', { query: { ...query } });
  }
  createCertificate(input: NewCertificate): Promise<Certificate> {
    return this.request('POST', '/certificates', { body: input });
  }
  getCertificate(id: string): Promise<Certificate> {
    return this.request('GET', `/certificates/${segment(id)}`);
  }
  renewCertificate(id: string, options: { force?: boolean } = {}): Promise<RenewalTriggered> {
    return this.request('POST', `/certificates/${segment(id)}/renew`, { body: options.force ? { force: true } : {} });
  }
  /** certctl's `POST /certificates/{id}/revoke {reason}` → `{status: "revoked"}`. */
  revokeCertificate(id: string, reason: RevocationReason = 'unspecified'): Promise<Record<string, unknown>> {
    return this.request('POST', `/certificates/${segment(id)}/revoke`, { body: { reason } });
  }
  bulkRevoke(criteria: BulkCriteria, reason: RevocationReason = 'unspecified'): Promise<BulkRevokeResult> {
    return this.request('POST', '/certificates/bulk-revoke', { body: { ...criteria, reason } });
  }
  bulkRenew(criteria: BulkCriteria): Promise<BulkRenewResult> {
    return this.request('POST', '/certificates/bulk-renew', { body: criteria });
  }
  exportPem(id: string): Promise<PemExport> {
    return this.request('GET', `/certificates/${segment(id)}/export/pem`);
  }

  // Jobs
  listJobs(query: JobQuery = {}): Promise<Page<Job>> {
    return this.request('GET', '/jobs', { query: { ...query } });
  }
  getJob(id: string): Promise<Job> {
    return this.request('GET', `/jobs/${segment(id)}`);
  }
  approveJob(id: string, note?: string): Promise<Job> {
    return this.request('POST', `/jobs/${segment(id)}/approve`, { body: note === undefined ? {} : { note } });
  }
  rejectJob(id: string, note?: string): Promise<Job> {
    return this.request('POST', `/jobs/${segment(id)}/reject`, { body: note === undefined ? {} : { note } });
  }

  // Approvals (four eyes)
  listApprovals(query: ApprovalQuery = {}): Promise<Page<Approval>> {
    return this.request('GET', '/approvals', { query: { ...query } });
  }
  getApproval(id: string): Promise<Approval> {
    return this.request('GET', `/approvals/${segment(id)}`);
  }
  decideApproval(id: string, decision: 'approve' | 'reject', note?: string): Promise<Approval> {
    return this.request('POST', `/approvals/${segment(id)}/${decision}`, { body: note === undefined ? {} : { note } });
  }

  // Notifications
  listNotifications(query: NotificationQuery = {}): Promise<Page<Notification>> {
    return this.request('GET', '/notifications', { query: { ...query } });
  }
  requeueNotification(id: string): Promise<Notification> {
    return this.request('POST', `/notifications/${segment(id)}/requeue`, { body: {} });
  }
  /** Every dead notification matching the filter (all dead ones with an empty filter). */
  requeueDeadNotifications(filter: BulkRequeueFilter = {}): Promise<BulkRequeueResult> {
    return this.request('POST', '/notifications/bulk-requeue', { body: filter });
  }

  // Agents, keys
  listAgents(query: { page?: number; per_page?: number } = {}): Promise<Page<Agent>> {
    return this.request('GET', '/agents', { query: { ...query } });
  }
  listKeys(): Promise<{ data: ApiKey[]; total: number }> {
    return this.request('GET', '/auth/keys');
  }
  createKey(input: { name: string; role: string; expires_at?: string }): Promise<CreatedApiKey> {
    return this.request('POST', '/auth/keys', { body: input });
  }
  revokeKey(id: string): Promise<ApiKey> {
    return this.request('DELETE', `/auth/keys/${segment(id)}`);
  }
  listKeyRoles(id: string): Promise<{ grants: RoleGrant[] }> {
    return this.request('GET', `/auth/keys/${segment(id)}/roles`);
  }
  grantKeyRole(id: string, input: { role_id: string; scope_type?: string; scope_id?: string; expires_at?: string }): Promise<RoleGrant> {
    return this.request('POST', `/auth/keys/${segment(id)}/roles`, { body: input });
  }
  revokeKeyRole(id: string, roleId: string): Promise<void> {
    return this.request('DELETE', `/auth/keys/${segment(id)}/roles/${segment(roleId)}`);
  }

  // Discovery
  listNetworkScanTargets(query: { search?: string; page?: number; per_page?: number } = {}): Promise<Page<NetworkScanTarget>> {
    return this.request('GET', '/network-scan-targets', { query: { ...query } });
  }
  getNetworkScanTarget(id: string): Promise<NetworkScanTarget> {
    return this.request('GET', `/network-scan-targets/${segment(id)}`);
  }
  startNetworkScan(targetId: string): Promise<ScanStarted> {
    return this.request('POST', `/network-scan-targets/${segment(targetId)}/scan`, { body: {} });
  }
  getDiscoveryScan(id: string): Promise<DiscoveryScan> {
    return this.request('GET', `/discovery-scans/${segment(id)}`);
  }

  // Deployment targets
  listTargets(query: { type?: string; search?: string; page?: number; per_page?: number } = {}): Promise<Page<Target>> {
    return this.request('GET', '/targets', { query: { ...query } });
  }
  createTarget(input: NewTarget): Promise<Target> {
    return this.request('POST', '/targets', { body: input });
  }
  testTarget(id: string): Promise<TargetTestResult> {
    return this.request('POST', `/targets/${segment(id)}/test`, { body: {} });
  }

  // Auth
  authCheck(): Promise<AuthCheck> {
    return this.request('GET', '/auth/check');
  }
  me(): Promise<AuthCheck> {
    return this.request('GET', '/auth/me');
  }

  // Audit, stats
  verifyAudit(): Promise<AuditVerification> {
    return this.request('GET', '/audit/verify');
  }
  summary(): Promise<StatsSummary> {
    return this.request('GET', '/stats/summary');
  }

  /** One call to `/api/v1{path}`; 2xx bodies are parsed JSON (undefined for 204), anything else throws. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { apiKey, serverUrl, timeoutMs } = this.settings;
    if (!apiKey) {
      throw new CertctlConfigError('no API key: set CERTCTL_API_KEY, pass --api-key, or put "api_key" in the config file (~/.config/certctl/config.json)');
    }
    const url = new URL(`${serverUrl}/api/v1${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { Authorization: `Bearer ${apiKey}`, Accept: 'application/json' };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new CertctlConnectionError(serverUrl, describeFetchFailure(err, timeoutMs));
    }
    const text = await response.text();
    if (!response.ok) throw apiErrorOf(response, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CertctlApiError(response.status, 'MALFORMED_RESPONSE', `the server at ${serverUrl} answered ${method} ${path} with something that is not JSON`);
    }
  }
}

function segment(id: string): string {
  return encodeURIComponent(id);
}

/** certctl's `{error, message, code, request_id, details}`; a proxy's HTML page becomes its status line. */
function apiErrorOf(response: Response, text: string): CertctlApiError {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: fall through to the status line
  }
  const message = typeof body.message === 'string' && body.message
    ? body.message
    : typeof body.error === 'string' && body.error ? body.error : `HTTP ${response.status} ${response.statusText}`.trim();
  // Without certctl's body (a proxy's page, say) there is no code: say where the answer came from instead.
  const code = typeof body.code === 'string' ? body.code : 'NOT_FROM_CERTCTL';
  const details = Array.isArray(body.details)
    ? body.details.filter((d): d is FieldProblem => !!d && typeof d === 'object' && typeof d.field === 'string' && typeof d.message === 'string')
    : [];
  return new CertctlApiError(response.status, code, message, typeof body.request_id === 'string' ? body.request_id : undefined, details);
}

function describeFetchFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
