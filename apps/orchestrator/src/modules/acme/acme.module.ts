import { Inject, Injectable, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import {
  AcmeAccountStore, AcmeChallengeStore, AcmeResponderPool, IssuerRegistry, IssuersModule, registerAcmeIssuer,
} from '@certctl/issuers';

/**
 * Makes ACME issuers live in the orchestrator and answers their http-01 challenges: the key authorizations
 * are in Redis, so this responder (or the api's route, or another replica) can answer any of them. The
 * responder listens from boot on CERTCTL_ACME_HTTP_PORT when it is set, and on an issuer's http_port (or
 * 80) the first time one of its orders needs it.
 */
@Injectable()
export class AcmeSetup implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('AcmeModule');

  constructor(
    private readonly registry: IssuerRegistry,
    private readonly pool: AcmeResponderPool,
    private readonly challenges: AcmeChallengeStore,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    registerAcmeIssuer(this.registry, {
      accounts: new AcmeAccountStore(this.dataSource),
      challenges: this.challenges,
      encryptionKey: this.config.pki.encryptionKey,
      defaultHttpPort: this.config.acme.httpPort ?? 80,
      ensureResponder: (port) => this.pool.ensure(port),
      caaResolver: this.config.acme.caaResolver,
    });
    if (this.config.acme.httpPort !== undefined) await this.pool.ensure(this.config.acme.httpPort);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
  }
}

@Module({
  imports: [IssuersModule],
  providers: [
    {
      provide: AcmeResponderPool,
      inject: [AcmeChallengeStore, APP_CONFIG],
      useFactory: (store: AcmeChallengeStore, config: AppConfig) => {
        const logger = new Logger('AcmeResponder');
        return new AcmeResponderPool(store, config.server.host, (port, err) =>
          logger.warn(`http-01 responder cannot listen on ${config.server.host}:${port} (${err.message}); challenges must reach the api or another replica`));
      },
    },
    AcmeSetup,
  ],
  exports: [AcmeResponderPool],
})
export class AcmeModule {}
