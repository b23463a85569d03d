/** PostgreSQL SQLSTATE codes the services turn into client answers. */
export const PgError = {
  UniqueViolation: '23505',
  ForeignKeyViolation: '23503',
  CheckViolation: '23514',
  NotNullViolation: '23502',
  InvalidTextRepresentation: '22P02',
  CharacterNotInRepertoire: '22021',
} as const;

export interface PgDriverError {
  code?: string;
  constraint?: string;
  detail?: string;
  table?: string;
  column?: string;
}

/** The driver error behind a TypeORM QueryFailedError, if any. */
export function pgErrorOf(err: unknown): PgDriverError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { driverError?: PgDriverError; code?: string };
  if (e.driverError?.code) return e.driverError;
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e as PgDriverError;
  return undefined;
}
