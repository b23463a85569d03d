import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';

/** Rows removed per statement, so one sweep never holds a long lock on the sessions table. */
const BATCH = 5_000;

/**
 * Identity housekeeping on a schedule: console sessions that ended (expired or revoked) longer ago than
 * CERTCTL_SESSION_RETENTION are deleted (the audit trail keeps who signed in and out), and back-channel logout
 * jtis are forgotten once their token could no longer be replayed (expires_at = iat + the iat window + margin).
 * A sign-in in progress (state, nonce, PKCE) lives in Redis with a ten-minute expiry, so it needs nothing here.
 */
@Injectable()
export class SessionCleanupService {
  private readonly logger = new Logger(SessionCleanupService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async cleanup(): Promise<{ sessionsDeleted: number; jtisDeleted: number }> {
    const retentionSeconds = this.config.auth.sessionRetentionMs / 1000;
    const sessionsDeleted = await this.deleteInBatches(
      `DELETE FROM sessions WHERE id IN (
         SELECT id FROM sessions
          WHERE COALESCE(revoked_at, LEAST(idle_expires_at, absolute_expires_at)) < now() - make_interval(secs => $1)
            AND (revoked_at IS NOT NULL OR idle_expires_at <= now() OR absolute_expires_at <= now())
          LIMIT ${BATCH})`,
      [retentionSeconds],
    );
    const jtisDeleted = await this.deleteInBatches(
      `DELETE FROM oidc_bcl_consumed_jtis WHERE (provider_id, jti) IN (SELECT provider_id, jti FROM oidc_bcl_consumed_jtis WHERE expires_at < now() LIMIT ${BATCH})`,
      [],
    );
    if (sessionsDeleted || jtisDeleted) this.logger.log({ sessionsDeleted, jtisDeleted }, 'identity rows cleaned up');
    return { sessionsDeleted, jtisDeleted };
  }

  private async deleteInBatches(sql: string, params: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const [, affected]: [unknown, number] = await this.dataSource.query(sql, params);
      total += affected;
      if (affected < BATCH) return total;
    }
  }
}
