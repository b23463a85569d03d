import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';

/** Agents that missed their heartbeats become Offline (retired ones are left as they are). */
@Injectable()
export class AgentHealthService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource, @Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async sweep(): Promise<number> {
    const result: [unknown[], number] = await this.dataSource.query(
      `UPDATE agents SET status = 'Offline', updated_at = now()
        WHERE status <> 'Offline' AND retired_at IS NULL AND id <> 'server-scanner'
          AND (last_heartbeat_at IS NULL OR last_heartbeat_at < now() - make_interval(secs => $1::numeric / 1000))`,
      [this.config.scheduler.agentOfflineAfterMs],
    );
    return result[1] ?? 0;
  }
}
