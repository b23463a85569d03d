import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { AuditService } from '../../common/audit/audit.service';
import type { Principal } from '../../common/auth/principal';
import { positionalBinder, visibilityOf, visibilitySql } from '../../common/auth/visibility';
import { ApiError } from '../../common/http/api-error';
import { AUDIT_EXPORT_DEFAULT_LIMIT, AuditExportQuery } from './dto/audit.dto';

/** Rows fetched from the cursor per round trip: what the api holds in memory at once, whatever the export's size. */
const FETCH_ROWS = 500;
const COLUMNS = 'id, seq, actor, actor_type, action, resource_type, resource_id, event_category, details, "timestamp", prev_hash, row_hash';

/**
 * GET /audit/export: the audit trail as NDJSON (one event per line, oldest first, in chain order), streamed from a
 * PostgreSQL cursor in a read-only snapshot, a few hundred rows at a time and only as fast as the client reads,
 * so memory stays flat at a million rows. The export itself is audited.
 */
@Injectable()
export class AuditExportService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource, private readonly audit: AuditService) {}

  async stream(actor: Principal, query: AuditExportQuery, res: Response): Promise<void> {
    if (query.from && query.to && query.from >= query.to) throw ApiError.invalidField('to', 'must be after from');
    const { where, params } = filters(query, actor);
    const limit = query.limit ?? AUDIT_EXPORT_DEFAULT_LIMIT;
    const runner = this.dataSource.createQueryRunner('slave');
    await runner.connect();
    let rows = 0;
    let complete = false;
    try {
      await runner.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await runner.query(
        `DECLARE audit_export NO SCROLL CURSOR FOR SELECT ${COLUMNS} FROM audit_events ${where} ORDER BY seq LIMIT ${Number(limit)}`, params,
      );
      res.status(200).setHeader('Content-Type', 'application/x-ndjson');
      res.setHeader('Content-Disposition', 'attachment; filename="audit-export.ndjson"');
      for (;;) {
        const batch: Array<Record<string, unknown>> = await runner.query(`FETCH ${FETCH_ROWS} FROM audit_export`);
        if (!batch.length) {
          complete = true;
          break;
        }
        rows += batch.length;
        if (!res.write(batch.map((row) => JSON.stringify(row)).join('\n') + '\n')) {
          // The client is slower than the database: wait for it rather than buffer.
          await drainedOrClosed(res);
        }
        if (res.destroyed) break;
      }
      await runner.query('COMMIT');
    } catch (err) {
      await runner.query('ROLLBACK').catch(() => undefined);
      if (!res.headersSent) throw err;
      res.destroy(err instanceof Error ? err : undefined); // the client sees a truncated stream, not a clean end
      return;
    } finally {
      await runner.release();
    }
    res.end();
    await this.audit.record({
      actor, action: 'audit_exported', resource_type: 'audit', resource_id: '', event_category: 'auth',
      details: { rows, complete, limit, filters: { ...query, from: query.from?.toISOString(), to: query.to?.toISOString() } },
    });
  }
}

/** Resolves when the response can take more, or is gone; leaves no listener behind. */
function drainedOrClosed(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The export's filters, and the caller's audit.export scope: a team-scoped caller exports its teams' rows only. */
function filters(query: AuditExportQuery, actor: Principal): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replace('?', `$${params.length}`));
  };
  for (const column of ['actor', 'actor_type', 'action', 'resource_type', 'resource_id'] as const) {
    if (query[column] !== undefined) add(`${column} = ?`, query[column]);
  }
  if (query.category) add('event_category = ?', query.category);
  if (query.from) add('"timestamp" >= ?', query.from);
  if (query.to) add('"timestamp" < ?', query.to);
  const scope = visibilitySql(visibilityOf(actor, 'audit.export'), { team: 'team_id' }, positionalBinder(params));
  if (scope) clauses.push(scope);
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}
