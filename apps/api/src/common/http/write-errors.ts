import { HttpStatus } from '@nestjs/common';
import { PgError, pgErrorOf } from '@certctl/db';
import { ApiError } from './api-error';

/**
 * Turns a constraint violation from a write on `table` into a client answer, from the structured fields
 * PostgreSQL reports (SQLSTATE, constraint, table), never from message text:
 *  - unique: 409 naming the field; foreign key on insert/update: 400 naming the reference;
 *  - foreign key on delete (the row is still referenced): 409 naming the referencing table;
 *  - check constraint: 400.
 * Anything else is rethrown (a real 500).
 */
export function translateWriteError(err: unknown, table: string, resource: string): never {
  const pg = pgErrorOf(err);
  const constraint = pg?.constraint ?? '';
  switch (pg?.code) {
    case PgError.UniqueViolation: {
      const field = constraint === `${table}_pkey` ? 'id' : constraint.replace(`uq_${table}_`, '');
      throw ApiError.conflict('DUPLICATE', `${resource} with this ${field} already exists`, [
        { field, message: 'already exists' },
      ]);
    }
    case PgError.ForeignKeyViolation: {
      if (pg.table && pg.table !== table) {
        throw ApiError.conflict('IN_USE', `${resource} is still referenced by ${pg.table}`);
      }
      const field = constraint.replace(`${table}_`, '').replace(/_fkey$/, '');
      const value = /\)=\((.*)\) is not present/.exec(pg.detail ?? '')?.[1] ?? '';
      throw ApiError.missingReference(field, value);
    }
    case PgError.NotNullViolation: {
      const field = pg.column ?? "a field";
      throw ApiError.invalidField(field, 'must not be null');
    }
    case PgError.CheckViolation:
      throw new ApiError(HttpStatus.BAD_REQUEST, 'VALIDATION_FAILED', `${resource} violates ${constraint}`);
    default:
      throw err;
  }
}
