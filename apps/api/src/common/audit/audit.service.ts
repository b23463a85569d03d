import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { AuditCategory } from '@certctl/contracts';
import { AuditEventEntity, newId } from '@certctl/db';
import type { Principal } from '../auth/principal';

export interface AuditInput {
  /** Who: a Principal passed whole also names the person (user, e-mail, provider, session) or the key (id, name). */
  actor: Pick<Principal, 'actor' | 'actor_type'> & Partial<Pick<Principal, 'user_id' | 'session_id' | 'email' | 'provider_id' | 'key_id'>>;
  action: string;
  resource_type: string;
  resource_id: string;
  event_category?: AuditCategory;
  details?: Record<string, unknown>;
  /**
   * The team the event belongs to, for team-scoped audit readers. Left out, the database fills it from the
   * resource (see the TeamScoping migration); give it when the resource is gone (a delete).
   */
  team_id?: string | null;
}

/**
 * Writes audit events. Domain events pass the transaction's manager, so the event commits or rolls back with
 * the change it describes. The database fills seq and the hash chain and refuses UPDATE and DELETE.
 */
@Injectable()
export class AuditService implements OnApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async record(input: AuditInput, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.insert(AuditEventEntity, {
      id: newId('audit'),
      actor: input.actor.actor,
      actor_type: input.actor.actor_type,
      action: input.action,
      resource_type: input.resource_type,
      resource_id: input.resource_id,
      event_category: input.event_category ?? 'cert_lifecycle',
      details: withIdentity(input) as never,
      ...(input.team_id ? { team_id: input.team_id } : {}),
    });
  }

  /** Records after the response has gone out; shutdown waits for these writes. */
  recordInBackground(input: AuditInput | Promise<AuditInput>): void {
    const write = Promise.resolve(input).then((event) => this.record(event))
      .catch((err: unknown) => this.logger.error({ err }, 'audit write failed'))
      .finally(() => this.inFlight.delete(write));
    this.inFlight.add(write);
  }

  /** Resolves once every background write has finished (tests and shutdown). */
  async flush(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}

/**
 * The event's details plus `identity`: for a cookie session the user id, e-mail, provider and session id; for an
 * API key its id and name. Events by the system (or a caller that passed only a name) carry none.
 */
function withIdentity(input: AuditInput): Record<string, unknown> {
  const details = input.details ?? {};
  const a = input.actor;
  const identity = a.session_id || a.user_id
    ? { user_id: a.user_id ?? null, email: a.email ?? null, provider_id: a.provider_id ?? null, session_id: a.session_id ?? null }
    : a.key_id ? { key_id: a.key_id, key_name: a.actor } : undefined;
  return identity && !('identity' in details) ? { ...details, identity } : details;
}
