import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IssuerConnectors } from '@certctl/issuers';
import { isRevocationReason, REVOCATION_REASONS, splitPemChain } from '@certctl/pki';

interface PendingRevocation {
  id: string;
  issuer_id: string;
  serial_number: string;
  reason: string;
  pem_chain: string;
}

/**
 * `certificate.revoke`: tells the issuing CA (ACME revokeCert) about each revoked serial it has not been told of.
 * The revocation itself is already recorded (certificate_revocations, Revoked); a CA that fails keeps the row
 * at issuer_notified = false with the reason in issuer_notify_error, and the queue job retries with backoff.
 */
@Injectable()
export class IssuerRevocationService {
  private readonly logger = new Logger(IssuerRevocationService.name);

  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly connectors: IssuerConnectors) {}

  async notifyIssuer(certificateId: string): Promise<void> {
    const pending: PendingRevocation[] = await this.dataSource.query(
      `SELECT r.id, r.issuer_id, r.serial_number, r.reason, v.pem_chain
         FROM certificate_revocations r
         JOIN certificate_versions v ON v.certificate_id = r.certificate_id AND v.serial_number = r.serial_number
        WHERE r.certificate_id = $1 AND NOT r.issuer_notified
        ORDER BY r.revoked_at`,
      [certificateId],
    );
    for (const row of pending) {
      try {
        const { connector } = await this.connectors.forIssuer(row.issuer_id);
        if (!connector.revoke) throw new Error('this issuer type has no way to revoke at the CA');
        const leaf = splitPemChain(row.pem_chain)[0];
        if (!leaf) throw new Error('the version holds no certificate');
        await connector.revoke(leaf, REVOCATION_REASONS[isRevocationReason(row.reason) ? row.reason : 'unspecified']);
        await this.dataSource.query('UPDATE certificate_revocations SET issuer_notified = true, issuer_notify_error = NULL WHERE id = $1', [row.id]);
      } catch (err) {
        const message = (err as Error).message.slice(0, 2000);
        await this.dataSource.query('UPDATE certificate_revocations SET issuer_notify_error = $2 WHERE id = $1', [row.id, message]);
        this.logger.warn({ certificateId, serial: row.serial_number, err: message }, 'revocation at the CA failed; the job retries');
        throw err;
      }
    }
  }
}
