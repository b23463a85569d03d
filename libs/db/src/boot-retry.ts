import { Logger } from '@nestjs/common';

/** A dependency (PostgreSQL, Redis) stayed unreachable through every boot attempt. */
export class DependencyUnreachableError extends Error {
  constructor(readonly dependency: string, readonly attempts: number, override readonly cause: unknown) {
    super(`${dependency} unreachable after ${attempts} attempts: ${describe(cause).error}`);
    this.name = 'DependencyUnreachableError';
  }
}

function describe(err: unknown): { error: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown; errors?: Array<{ message?: string }> };
  // AggregateError (a host name resolving to several addresses) has an empty message of its own.
  const message = typeof e?.message === 'string' && e.message ? e.message : e?.errors?.[0]?.message ?? String(err);
  return typeof e?.code === 'string' ? { error: message, code: e.code } : { error: message };
}

export interface BootRetryOptions {
  /** What is being reached, in the log line and the final error ("database", "redis"). */
  dependency: string;
  attempts: number;
  delayMs: number;
}

/**
 * Runs `connect` until it succeeds, `attempts` times at most, `delayMs` apart. Each failure is one structured
 * log line (dependency, attempt, error, code), never a stack dump: an unreachable database at boot is an
 * operational state, not a bug. The last failure throws DependencyUnreachableError.
 */
export async function retryAtBoot<T>(connect: () => Promise<T>, options: BootRetryOptions): Promise<T> {
  const logger = new Logger('Boot');
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (err) {
      const fields = { dependency: options.dependency, attempt, of: options.attempts, ...describe(err) };
      if (attempt >= options.attempts) {
        logger.error(fields, `${options.dependency} unreachable; giving up`);
        throw new DependencyUnreachableError(options.dependency, attempt, err);
      }
      logger.warn({ ...fields, retryInMs: options.delayMs }, `${options.dependency} unreachable; retrying`);
      await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    }
  }
}
