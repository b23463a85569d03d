const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
export type LogLevel = keyof typeof LEVELS;

/**
 * JSON lines on stdout (journald and `docker logs` keep them). Small on purpose: the agent's memory at idle
 * matters on every host. Callers never pass keys or PEM here; a field named like a secret is masked anyway.
 */
export class Logger {
  constructor(private readonly level: LogLevel = 'info', private readonly out: (line: string) => void = (line) => process.stdout.write(line)) {}

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }

  private write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (LEVELS[level] < LEVELS[this.level]) return;
    this.out(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }, redact)}\n`);
  }
}

const SECRET_FIELD = /key_?pem|private_?key|api_?key|password|passphrase|secret|token|authorization/i;

function redact(name: string, value: unknown): unknown {
  if (SECRET_FIELD.test(name) && value !== undefined && value !== null) return '[redacted]';
  if (typeof value === 'string' && value.includes('PRIVATE KEY-----')) return '[redacted]';
  return value;
}
