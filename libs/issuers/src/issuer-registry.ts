import type { IssuerEntity } from '@certctl/db';
import { IssuerConnector, IssuerError } from './issuer-connector';
import { LocalCaConfig, LocalCaConnector, LocalCaDeps } from './local-ca/local-ca.connector';

/**
 * Makes the live connector of an issuer row. Connectors are cached per issuer and config version, so a CA's
 * key is loaded once per process and an edited issuer gets a fresh connector.
 * ACME registers itself through `registerIssuerType` (its module owns its own dependencies).
 */
export type ConnectorFactory = (issuer: IssuerEntity, config: Record<string, unknown>) => IssuerConnector;

export class IssuerRegistry {
  private readonly factories = new Map<string, ConnectorFactory>();
  private readonly cache = new Map<string, { stamp: number; connector: IssuerConnector }>();

  constructor(localCa: LocalCaDeps) {
    const local: ConnectorFactory = (issuer, config) => new LocalCaConnector(issuer.id, config as LocalCaConfig, localCa);
    this.factories.set('GenericCA', local);
    this.factories.set('local', local);
  }

  registerIssuerType(type: string, factory: ConnectorFactory): void {
    this.factories.set(type, factory);
  }

  /** `config` is the issuer's full config with its secrets decrypted. */
  connectorFor(issuer: IssuerEntity, config: Record<string, unknown>): IssuerConnector {
    const stamp = issuer.updated_at.getTime();
    const cached = this.cache.get(issuer.id);
    if (cached && cached.stamp === stamp) return cached.connector;
    const factory = this.factories.get(issuer.type);
    if (!factory) throw new IssuerError('permanent', `issuer type ${issuer.type} is not supported by this server`);
    const connector = factory(issuer, config);
    this.cache.set(issuer.id, { stamp, connector });
    return connector;
  }
}
