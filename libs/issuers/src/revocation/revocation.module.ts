import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { CrlService } from './crl.service';
import { OcspResponderStore } from './ocsp-responder.store';
import { OcspService } from './ocsp.service';
import { PkiController } from './pki.controller';
import { RevocationAuthorities } from './revocation-authorities';

/**
 * CRLs and the OCSP responder with their /.well-known/pki routes, for the api and apps/responder. Needs the
 * issuer connectors (IssuersModule), the database, Redis and the config from the importing app.
 */
@Module({
  controllers: [PkiController],
  providers: [RevocationAuthorities, CrlService, OcspResponderStore, OcspService, ClusterCounters],
  exports: [CrlService, OcspService, RevocationAuthorities],
})
export class RevocationModule {}
