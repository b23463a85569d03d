import { Module } from '@nestjs/common';
import { PkiRoutesModule } from '@certctl/issuers';
import { CrlAdminController } from './crl-admin.controller';

/** The api's side of revocation beyond the certificate routes: /.well-known/pki (RevocationModule) and the CRL admin view. */
@Module({ imports: [PkiRoutesModule], controllers: [CrlAdminController] })
export class RevocationAdminModule {}
