import { Extensions1764230300000 } from './1764230300000-Extensions';
import { InitialSchema1764230400000 } from './1764230400000-InitialSchema';
import { IssuancePipeline1764250000000 } from './1764250000000-IssuancePipeline';
import { AcmeAccounts1764260000000 } from './1764260000000-AcmeAccounts';
import { NotificationDelivery1764300000000 } from './1764300000000-NotificationDelivery';
import { NetworkDiscovery1764400000000 } from './1764400000000-NetworkDiscovery';
import { AuditChainAtCommit1764600000000 } from './1764600000000-AuditChainAtCommit';
import { StatusCounts1764700000000 } from './1764700000000-StatusCounts';
import { CertificateRenewalInfo1764720000000 } from './1764720000000-CertificateRenewalInfo';
import { Revocation1764800000000 } from './1764800000000-Revocation';
import { IntermediateCas1764800000001 } from './1764800000001-IntermediateCas';
import { KubernetesSecretsTargetType1764900000000 } from './1764900000000-KubernetesSecretsTargetType';
import { AgentGroups1764900100000 } from './1764900100000-AgentGroups';
import { EndpointHealthChecks1765000000000 } from './1765000000000-EndpointHealthChecks';
import { DashboardTrendIndexes1765300000000 } from './1765300000000-DashboardTrendIndexes';
import { NotificationSkipped1765400000000 } from './1765400000000-NotificationSkipped';
import { AuditCheckpointsAndAppRole1765400500000 } from './1765400500000-AuditCheckpointsAndAppRole';
import { AcmeServer1765510000000 } from './1765510000000-AcmeServer';
import { IssuerBudgets1765540000000 } from './1765540000000-IssuerBudgets';
import { CrlShards1765550000000 } from './1765550000000-CrlShards';
import { OidcSignIn1765570000000 } from './1765570000000-OidcSignIn';
import { BreakGlass1765570001000 } from './1765570001000-BreakGlass';
import { ReissueDrills1765580000000 } from './1765580000000-ReissueDrills';
import { AriRenewEarly1765585000000 } from './1765585000000-AriRenewEarly';
import { RevocationGeneration1765590000000 } from './1765590000000-RevocationGeneration';
import { RolesAndGrants1765600000000 } from './1765600000000-RolesAndGrants';
import { TeamScoping1765601000000 } from './1765601000000-TeamScoping';
import { AcmeAccountUrl1765602000000 } from './1765602000000-AcmeAccountUrl';
import { ApprovalRequests1765603000000 } from './1765603000000-ApprovalRequests';

/** Listed explicitly (not globbed) so the same list works from sources under test and from the build; one a line, in timestamp order. */
export const MIGRATIONS = [
  Extensions1764230300000,
  InitialSchema1764230400000,
  IssuancePipeline1764250000000,
  AcmeAccounts1764260000000,
  NotificationDelivery1764300000000,
  NetworkDiscovery1764400000000,
  AuditChainAtCommit1764600000000,
  StatusCounts1764700000000,
  CertificateRenewalInfo1764720000000,
  Revocation1764800000000,
  IntermediateCas1764800000001,
  KubernetesSecretsTargetType1764900000000,
  AgentGroups1764900100000,
  EndpointHealthChecks1765000000000,
  DashboardTrendIndexes1765300000000,
  NotificationSkipped1765400000000,
  AuditCheckpointsAndAppRole1765400500000,
  AcmeServer1765510000000,
  IssuerBudgets1765540000000,
  CrlShards1765550000000,
  OidcSignIn1765570000000,
  BreakGlass1765570001000,
  ReissueDrills1765580000000,
  AriRenewEarly1765585000000,
  RevocationGeneration1765590000000,
  RolesAndGrants1765600000000,
  TeamScoping1765601000000,
  AcmeAccountUrl1765602000000,
  ApprovalRequests1765603000000,
];
