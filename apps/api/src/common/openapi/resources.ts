import {
  AgentEntity, AgentGroupEntity, AgentGroupMemberEntity, ApiKeyEntity, AuditEventEntity, CertificateProfileEntity, CertificateVersionEntity,
  DeploymentTargetEntity, DiscoveredCertificateEntity, DiscoveryScanEntity, EndpointHealthCheckEntity, EndpointHealthHistoryEntity, IssuerEntity,
  JobEntity, ManagedCertificateEntity,
  NetworkScanTargetEntity, NotificationEventEntity, OwnerEntity, PolicyRuleEntity, PolicyViolationEntity, RenewalPolicyEntity, TeamEntity,
} from '@certctl/db';
import { ActorType, HEALTH_STATUSES } from '@certctl/contracts';
import { bool, component, dateTime, entitySchema, int, objectOf, str, strings } from './response-schemas';

/** certctl's health-check status enum (EndpointHealthCheck.status, HealthCheckSummary's keys). */
const healthStatus = { type: 'string', enum: [...HEALTH_STATUSES] };

/**
 * The response schemas of the core resources, named as certctl's clients know them. Each entity's schema comes
 * from its columns (entitySchema); views that add or drop fields say so here.
 */
export const Schemas = {
  Team: component('Team', entitySchema(TeamEntity)),
  Owner: component('Owner', entitySchema(OwnerEntity)),
  Issuer: component('Issuer', entitySchema(IssuerEntity)),
  // certctl's Target always carries agent_id; null for the targets the orchestrator deploys itself.
  Target: component('Target', entitySchema(DeploymentTargetEntity, { properties: { agent_id: { type: ['string', 'null'] } }, required: ['agent_id'] })),
  Agent: component('Agent', entitySchema(AgentEntity)),
  RegisteredAgent: component('RegisteredAgent', entitySchema(AgentEntity, { properties: { api_key: str }, required: ['api_key'] })),
  AgentGroup: component('AgentGroup', entitySchema(AgentGroupEntity)),
  AgentGroupOverride: component('AgentGroupOverride', entitySchema(AgentGroupMemberEntity)),
  AgentGroupMember: component('AgentGroupMember', entitySchema(AgentEntity, { properties: { membership: { enum: ['dynamic', 'include'] } }, required: ['membership'] })),
  Job: component('Job', entitySchema(JobEntity)),
  Notification: component('Notification', entitySchema(NotificationEventEntity, { properties: { max_attempts: int }, required: ['max_attempts'] })),
  PolicyRule: component('PolicyRule', entitySchema(PolicyRuleEntity)),
  PolicyViolation: component('PolicyViolation', entitySchema(PolicyViolationEntity)),
  CertificateProfile: component('CertificateProfile', entitySchema(CertificateProfileEntity)),
  RenewalPolicy: component('RenewalPolicy', entitySchema(RenewalPolicyEntity)),
  AuditEvent: component('AuditEvent', entitySchema(AuditEventEntity, { properties: { actor_type: { type: 'string', enum: Object.values(ActorType) } } })),
  ApiKey: component('ApiKey', entitySchema(ApiKeyEntity)),
  // The secret is `api_key`, as POST /agents names it; `key` is the same value under the name this route used first.
  CreatedApiKey: component('CreatedApiKey', entitySchema(ApiKeyEntity, { properties: { api_key: str, key: str }, required: ['api_key', 'key'] })),
  NetworkScanTarget: component('NetworkScanTarget', entitySchema(NetworkScanTargetEntity)),
  DiscoveredCertificate: component('DiscoveredCertificate', entitySchema(DiscoveredCertificateEntity)),
  DiscoveryScan: component('DiscoveryScan', entitySchema(DiscoveryScanEntity, {
    omit: ['shard_progress'], properties: { progress_percent: { type: 'number' }, eta_seconds: int }, required: ['progress_percent'],
  })),
  CertificateVersion: component('CertificateVersion', entitySchema(CertificateVersionEntity)),
  /** A certificate, as every route returns it: with the targets it is mapped to. */
  Certificate: component('Certificate', entitySchema(ManagedCertificateEntity, { properties: { target_ids: strings }, required: ['target_ids'] })),
  HealthCheck: component('HealthCheck', entitySchema(EndpointHealthCheckEntity, { properties: { status: healthStatus } })),
  HealthHistoryEntry: component('HealthHistoryEntry', entitySchema(EndpointHealthHistoryEntity, { properties: { status: healthStatus } })),
  HealthCheckSummary: component('HealthCheckSummary', objectOf(Object.fromEntries([...HEALTH_STATUSES, 'total'].map((s) => [s, int])))),
  BulkResultError: component('BulkResultError', objectOf({ certificate_id: str, error: str })),
  CallerView: component('CallerView', objectOf({
    status: { const: 'authenticated' }, actor_id: str, actor_type: str, tenant_id: str, admin: bool, roles: strings,
    role_grants: { type: 'array', items: objectOf({ role_id: str, role_name: str, scope_type: str, scope_id: str, expires_at: dateTime, via: str }, ['role_id', 'role_name', 'scope_type', 'via']) },
    effective_permissions: { type: 'array', items: objectOf({ permission: str, scope_type: str, scope_id: str }, ['permission', 'scope_type']) },
    user: str, permissions: strings, actor: str, role: str, access: strings, agent_id: str, user_id: str,
  }, ['status', 'actor_id', 'actor_type', 'tenant_id', 'admin', 'roles', 'role_grants', 'effective_permissions', 'user', 'permissions', 'actor', 'role', 'access'])),
};

export { bool, dateTime, int, str, strings };
