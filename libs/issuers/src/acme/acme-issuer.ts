import type { IssuerRegistry } from '../issuer-registry';
import { AcmeConfig, AcmeConnector, AcmeDeps } from './acme.connector';

export const ACME_ISSUER_TYPE = 'ACME';

/** Makes ACME issuers live in this process (the orchestrator issues; the api only tests them). */
export function registerAcmeIssuer(registry: IssuerRegistry, deps: AcmeDeps): void {
  registry.registerIssuerType(ACME_ISSUER_TYPE, (issuer, config) => new AcmeConnector(issuer.id, config as unknown as AcmeConfig, deps));
}
