import { Global, Inject, Injectable, Logger, Module } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import type { Redis } from 'ioredis';
import { IssuerEntity, REDIS } from '@certctl/db';
import { AcmeChallengeStore } from './acme/acme-challenge-store';
import { IssuerConnector, IssuerError } from './issuer-connector';
import { IssuerRegistry } from './issuer-registry';
import { openIssuerConfig } from './issuer-secrets';
import { CaStore } from './local-ca/ca-store';

/** Finds an issuer row and returns its live connector (secrets decrypted in memory only). */
@Injectable()
export class IssuerConnectors {
  constructor(
    readonly registry: IssuerRegistry,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async forIssuer(issuerId: string): Promise<{ issuer: IssuerEntity; connector: IssuerConnector }> {
    const issuer = await this.dataSource.manager.findOne(IssuerEntity, {
      where: { id: issuerId },
      select: { id: true, name: true, type: true, config: true, encrypted_config: true, enabled: true, updated_at: true },
    });
    if (!issuer) throw new IssuerError('permanent', `issuer ${issuerId} does not exist`);
    if (!issuer.enabled) throw new IssuerError('permanent', `issuer ${issuer.name} is disabled`);
    const config = openIssuerConfig(issuer.config, issuer.encrypted_config, this.config.pki.encryptionKey);
    return { issuer, connector: this.registry.connectorFor(issuer, config) };
  }
}

/** Issuer connectors for any app that issues or tests issuers (orchestrator, api). */
@Global()
@Module({
  providers: [
    {
      provide: IssuerRegistry,
      inject: [APP_CONFIG, DataSource],
      useFactory: (config: AppConfig, dataSource: DataSource) => {
        if (!config.revocation.pkiBaseUrl) {
          new Logger('IssuersModule').warn(
            'CERTCTL_PKI_BASE_URL is not set: certificates issued by a Local CA carry no CRL distribution point and no OCSP address, ' +
              'so TLS clients cannot check their revocation. Set it to the public origin of the responder (apps/responder).',
          );
        }
        return new IssuerRegistry({
          store: new CaStore(dataSource),
          encryptionKey: config.pki.encryptionKey,
          defaultCaCertPath: config.pki.caCertPath,
          defaultCaKeyPath: config.pki.caKeyPath,
          pkiBaseUrl: config.revocation.pkiBaseUrl,
        });
      },
    },
    IssuerConnectors,
    // ACME http-01 answers live in Redis, so the api and every orchestrator replica can serve them.
    {
      provide: AcmeChallengeStore,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: Redis, config: AppConfig) => new AcmeChallengeStore(redis, config.redis.queuePrefix),
    },
  ],
  exports: [IssuerRegistry, IssuerConnectors, AcmeChallengeStore],
})
export class IssuersModule {}
