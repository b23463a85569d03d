import { AgentEntity } from './agent.entity';
import { AgentGroupEntity, AgentGroupMemberEntity } from './agent-group.entity';
import { ApiKeyEntity } from './api-key.entity';
import { AuditEventEntity } from './audit-event.entity';
import { CertificateRenewalInfoEntity } from './certificate-renewal-info.entity';
import { CertificateProfileEntity } from './certificate-profile.entity';
import { CertificateTargetMappingEntity } from './certificate-target-mapping.entity';
import { CertificateVersionEntity } from './certificate-version.entity';
import { DeploymentTargetEntity } from './deployment-target.entity';
import { DiscoveredCertificateEntity } from './discovered-certificate.entity';
import { DiscoveryScanEntity } from './discovery-scan.entity';
import { IssuerEntity } from './issuer.entity';
import { JobEntity } from './job.entity';
import { ManagedCertificateEntity } from './managed-certificate.entity';
import { NetworkScanTargetEntity } from './network-scan-target.entity';
import { NotificationEventEntity } from './notification-event.entity';
import { OwnerEntity } from './owner.entity';
import { PolicyRuleEntity } from './policy-rule.entity';
import { PolicyViolationEntity } from './policy-violation.entity';
import { RenewalPolicyEntity } from './renewal-policy.entity';
import { TeamEntity } from './team.entity';
import { EndpointHealthCheckEntity, EndpointHealthHistoryEntity } from './endpoint-health-check.entity';
import { AcmeEabKeyEntity } from './acme-eab-key.entity';
import { AcmeAccountEntity } from './acme-account.entity';
import { AcmeOrderEntity } from './acme-order.entity';
import { AcmeAuthorizationEntity } from './acme-authorization.entity';
import { AcmeChallengeEntity } from './acme-challenge.entity';
import { ActorRoleEntity, PermissionEntity, RoleEntity, RolePermissionEntity } from './rbac.entity';

export {
  AgentEntity, ApiKeyEntity, AuditEventEntity, CertificateProfileEntity, CertificateTargetMappingEntity,
  CertificateVersionEntity, DeploymentTargetEntity, IssuerEntity, JobEntity, ManagedCertificateEntity,
  NotificationEventEntity, OwnerEntity, PolicyRuleEntity, PolicyViolationEntity, RenewalPolicyEntity, TeamEntity,
  DiscoveredCertificateEntity, DiscoveryScanEntity, NetworkScanTargetEntity, CertificateRenewalInfoEntity,
  EndpointHealthCheckEntity, EndpointHealthHistoryEntity,
  AgentGroupEntity, AgentGroupMemberEntity,
  AcmeEabKeyEntity, AcmeAccountEntity, AcmeOrderEntity, AcmeAuthorizationEntity, AcmeChallengeEntity,
  ActorRoleEntity, PermissionEntity, RoleEntity, RolePermissionEntity,
};
export type { AcmeAccountStatus } from './acme-account.entity';
export type { AcmeOrderStatus, AcmeIdentifier } from './acme-order.entity';
export type { AcmeAuthorizationStatus } from './acme-authorization.entity';
export type { AcmeChallengeType, AcmeChallengeStatus } from './acme-challenge.entity';
export { MEMBERSHIP_TYPES } from './agent-group.entity';
export * from './discovery-scan.entity';
export * from './discovered-certificate.entity';
export type { AllowedKeyAlgorithm } from './certificate-profile.entity';

export const ENTITIES = [
  AgentEntity, ApiKeyEntity, AuditEventEntity, CertificateProfileEntity, CertificateTargetMappingEntity,
  CertificateVersionEntity, DeploymentTargetEntity, IssuerEntity, JobEntity, ManagedCertificateEntity,
  NotificationEventEntity, OwnerEntity, PolicyRuleEntity, PolicyViolationEntity, RenewalPolicyEntity, TeamEntity,
  DiscoveredCertificateEntity, DiscoveryScanEntity, NetworkScanTargetEntity, CertificateRenewalInfoEntity,
  EndpointHealthCheckEntity, EndpointHealthHistoryEntity,
  AgentGroupEntity, AgentGroupMemberEntity,
  AcmeEabKeyEntity, AcmeAccountEntity, AcmeOrderEntity, AcmeAuthorizationEntity, AcmeChallengeEntity,
  ActorRoleEntity, PermissionEntity, RoleEntity, RolePermissionEntity,
];
