import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { DataSource, EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { REDIS } from './redis-token';

/** The Redis pub/sub channel on which "agent X has new work" travels (per queue prefix, like the queues). */
export function agentWorkChannel(queuePrefix: string): string {
  return `${queuePrefix}:agent-work`;
}

/** A message is the agent ids, comma separated (ids are letters, digits, ".", "_" and "-": never a comma). */
export function parseAgentWorkMessage(message: string): string[] {
  return message.split(',').filter(Boolean);
}

/**
 * Tells every api process that agents have new work (a Deployment job for them, an issuance job waiting for
 * their CSR), so a long-poll held for one of them answers at once. Call it after the rows are committed.
 * Best effort: a lost message costs only latency, since a held request re-reads the database when it ends and
 * the agent keeps polling.
 */
@Injectable()
export class AgentWorkSignal {
  private readonly logger = new Logger('AgentWorkSignal');
  private readonly channel: string;

  constructor(@Inject(REDIS) private readonly redis: Redis, @Inject(APP_CONFIG) config: AppConfig) {
    this.channel = agentWorkChannel(config.redis.queuePrefix);
  }

  async notify(agentIds: Iterable<string | null | undefined>): Promise<void> {
    const ids = [...new Set([...agentIds].filter((id): id is string => Boolean(id)))];
    if (!ids.length) return;
    try {
      await this.redis.publish(this.channel, ids.join(','));
    } catch (err) {
      this.logger.warn({ agents: ids.length, err: (err as Error).message }, 'could not tell the api about new agent work; agents find it on their next poll');
    }
  }

  /** The agents deploying these certificates (an issuance job of theirs waits for a CSR). */
  async notifyCertificateAgents(db: DataSource | EntityManager, certificateIds: string[]): Promise<void> {
    if (!certificateIds.length) return;
    try {
      const rows: Array<{ agent_id: string }> = await db.query(
        `SELECT DISTINCT t.agent_id FROM certificate_target_mappings m JOIN deployment_targets t ON t.id = m.target_id
          WHERE m.certificate_id = ANY($1::text[]) AND t.agent_id IS NOT NULL`,
        [certificateIds],
      );
      await this.notify(rows.map((r) => r.agent_id));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not find the agents of new CSR work; they find it on their next poll');
    }
  }
}
