import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { createPkcs12, decryptSecret, splitPemChain } from '@certctl/pki';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { ApiError } from '../../common/http/api-error';
import { checkCertificate } from './certificate-scope';

/**
 * PKCS#12 export of the newest version with its private key, for certificates whose key the server holds
 * (server keygen). A key made on an agent's host never reaches the server, so those answer 409.
 */
@Injectable()
export class CertificateExportService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async pkcs12(actor: Principal, id: string, password: string): Promise<Buffer> {
    const [cert]: Array<{ id: string; team_id: string | null; issuer_id: string; certificate_profile_id: string | null }> = await this.dataSource.query(
      'SELECT id, team_id, issuer_id, certificate_profile_id FROM managed_certificates WHERE id = $1', [id]);
    if (!cert) throw ApiError.notFound('certificate', id);
    checkCertificate(actor, cert);
    const [version]: Array<{ id: string; pem_chain: string; encrypted_private_key: Buffer | null }> = await this.dataSource.query(
      `SELECT id, pem_chain, encrypted_private_key FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, [id],
    );
    if (!version) throw ApiError.conflict('CERTIFICATE_NOT_ISSUED', `certificate ${id} has no issued version yet`);
    if (!version.encrypted_private_key) {
      throw ApiError.conflict('KEY_NOT_ON_SERVER', `the private key of certificate ${id} was made on an agent's host and never left it; export it there`);
    }
    const secret = this.config.pki.encryptionKey;
    if (!secret) throw new ApiError(HttpStatus.SERVICE_UNAVAILABLE, 'KEY_UNAVAILABLE', 'CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the stored key cannot be read');
    const keyPem = decryptSecret(version.encrypted_private_key, secret).toString('utf8');
    const bundle = await createPkcs12(keyPem, splitPemChain(version.pem_chain), password);
    await this.audit.record({ actor, action: 'export_pkcs12', resource_type: 'certificate', resource_id: id, details: { version_id: version.id } });
    return bundle;
  }
}
