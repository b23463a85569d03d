import { Inject, Injectable, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Request, Response } from 'express';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import {
  AcmeAccountStore, AcmeChallengeStore, answerChallenge, CHALLENGE_PATH, IssuerRegistry, IssuersModule, registerAcmeIssuer,
} from '@certctl/issuers';

/**
 * GET /.well-known/acme-challenge/<token> on the api, public: answers http-01 validations from Redis, so a
 * reverse proxy may send the CA to any api replica. The route sits at the root (outside /api/v1, where a
 * controller would land because of the global prefix) and is mounted on the HTTP adapter during module init,
 * after Nest's routes and before its not-found handler; the auth guard, which only covers controller routes,
 * does not apply: the CA has no credentials. Also makes ACME issuers testable from the api
 * (POST /issuers/{id}/test); issuing is the orchestrator's.
 */
@Injectable()
export class AcmeChallengeRoute implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly store: AcmeChallengeStore,
    private readonly registry: IssuerRegistry,
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.adapterHost.httpAdapter.get(`${CHALLENGE_PATH}:token`, (req: Request, res: Response) => {
      void answerChallenge(this.store, String(req.params.token), res);
    });
    registerAcmeIssuer(this.registry, {
      accounts: new AcmeAccountStore(this.dataSource),
      challenges: this.store,
      encryptionKey: this.config.pki.encryptionKey,
      defaultHttpPort: this.config.acme.httpPort ?? 80,
    });
  }
}

@Module({
  imports: [IssuersModule],
  providers: [
    AcmeChallengeRoute,
  ],
})
export class AcmeChallengeModule {}
