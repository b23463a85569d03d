import { Logger } from '@nestjs/common';

const REPORT_EVERY_MS = 3_000;
const logger = new Logger('Redis');
let lastReportAt = 0;
let suppressed = 0;

/**
 * Reports a Redis connection error of any client of this process (our ioredis client, each BullMQ queue and
 * worker): ioredis reconnects by itself, so this is one structured line per retry window for the whole process,
 * not one stack dump per connection per attempt (BullMQ prints those when nobody listens to 'error').
 */
export function reportRedisError(source: string, err: Error): void {
  const now = Date.now();
  if (now - lastReportAt < REPORT_EVERY_MS) {
    suppressed++;
    return;
  }
  lastReportAt = now;
  const code = (err as { code?: unknown }).code;
  logger.warn(
    { dependency: 'redis', source, error: err.message, ...(typeof code === 'string' ? { code } : {}), similarSinceLast: suppressed },
    'redis unreachable; reconnecting',
  );
  suppressed = 0;
}
