import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { CrlService } from './crl.service';
import { OcspResponderStore } from './ocsp-responder.store';
import { OcspService } from './ocsp.service';
import { PkiController } from './pki.controller';
import { RevocationAuthorities } from './revocation-authorities';

/**
 * CRL building and OCSP answering, for any app (the orchestrator's CRL tick, the api's revoke). Needs the issuer
 * connectors (IssuersModule), the database, Redis and the config from the importing app.
 */
@Module({
  providers: [RevocationAuthorities, CrlService, OcspResponderStore, OcspService, ClusterCounters],
  exports: [CrlService, OcspService, RevocationAuthorities],
})
export class RevocationModule {}

/** The public /.well-known/pki routes (CRL, OCSP) on top of RevocationModule: the api and apps/responder serve them. */
@Module({ imports: [RevocationModule], controllers: [PkiController], exports: [RevocationModule] })
export class PkiRoutesModule {}
