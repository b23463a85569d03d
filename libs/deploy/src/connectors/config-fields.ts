import { isAbsolute } from 'node:path';
import { commandNotAllowed, commandProblem } from '../command';
import { ALLOWED_ROOTS_SETTING, deployPolicy, pathUnderRoots } from '../policy';
import { TargetConfigError } from '../errors';

export type Config = Record<string, unknown>;

/** Small checkers that throw TargetConfigError naming the field (the API turns it into a 400). */
export function optionalString(config: Config, field: string): string | undefined {
  const value = config[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new TargetConfigError(field, 'must be a string');
  return value;
}

export function requiredString(config: Config, field: string): string {
  const value = optionalString(config, field);
  if (value === undefined) throw new TargetConfigError(field, 'is required');
  return value;
}

function checkPath(field: string, value: string): string {
  if (!isAbsolute(value)) throw new TargetConfigError(field, 'must be an absolute path');
  if (value.split(/[\\/]/).includes('..')) throw new TargetConfigError(field, 'must not contain ".."');
  if (/[\0\n\r]/.test(value)) throw new TargetConfigError(field, 'must not contain control characters');
  return value;
}

export function optionalPath(config: Config, field: string): string | undefined {
  const value = optionalString(config, field);
  return value === undefined ? undefined : checkPath(field, value);
}

export function requiredPath(config: Config, field: string): string {
  return checkPath(field, requiredString(config, field));
}

/**
 * A path on this host (where the deploy runs) that files are written to: it must be under one of the allowed
 * roots. apply() checks the resolved path again when it writes.
 */
function checkLocalPath(field: string, value: string): string {
  checkPath(field, value);
  if (!pathUnderRoots(value)) {
    throw new TargetConfigError(field, `must be under one of the allowed directories (${ALLOWED_ROOTS_SETTING}: ${deployPolicy().allowedRoots.join(', ')})`);
  }
  return value;
}

export function optionalLocalPath(config: Config, field: string): string | undefined {
  const value = optionalString(config, field);
  return value === undefined ? undefined : checkLocalPath(field, value);
}

export function requiredLocalPath(config: Config, field: string): string {
  return checkLocalPath(field, requiredString(config, field));
}

/** A file name inside a directory: no separators, no "..". */
export function fileName(config: Config, field: string, fallback: string): string {
  const value = optionalString(config, field) ?? fallback;
  if (value.includes('/') || value.includes('\\') || value === '..' || value === '.') throw new TargetConfigError(field, 'must be a plain file name');
  return value;
}

export function optionalCommand(config: Config, field: string): string | undefined {
  const value = optionalString(config, field);
  if (value === undefined) return undefined;
  const problem = commandProblem(value);
  if (problem) throw new TargetConfigError(field, problem);
  return value;
}

export function requiredCommand(config: Config, field: string): string {
  const value = optionalCommand(config, field);
  if (value === undefined) throw new TargetConfigError(field, 'is required');
  return value;
}

/** A command run on this host (where the deploy runs): it must also match the allow-list of this host. */
export function optionalLocalCommand(config: Config, field: string): string | undefined {
  const value = optionalCommand(config, field);
  const notAllowed = value === undefined ? undefined : commandNotAllowed(value);
  if (notAllowed) throw new TargetConfigError(field, notAllowed);
  return value;
}

export function requiredLocalCommand(config: Config, field: string): string {
  const value = optionalLocalCommand(config, field);
  if (value === undefined) throw new TargetConfigError(field, 'is required');
  return value;
}

/** A file mode as "0640"/"640" or a number; keys may be 0600 or 0640 at most. */
export function optionalMode(config: Config, field: string, secret = false): number | undefined {
  const value = config[field];
  if (value === undefined || value === null || value === '') return undefined;
  let mode: number;
  if (typeof value === 'number' && Number.isInteger(value)) mode = value;
  else if (typeof value === 'string' && /^0?[0-7]{3,4}$/.test(value)) mode = parseInt(value, 8);
  else throw new TargetConfigError(field, 'must be an octal mode such as "0640"');
  if (mode < 0 || mode > 0o7777) throw new TargetConfigError(field, 'is out of range');
  if (secret && (mode & ~0o640) !== 0) throw new TargetConfigError(field, 'a private key may be 0600 or 0640 at most');
  return mode;
}

export function optionalPrincipal(config: Config, field: string): string | undefined {
  const value = optionalString(config, field);
  if (value !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(value)) throw new TargetConfigError(field, 'must be a user or group name or id');
  return value;
}

export function optionalInteger(config: Config, field: string, min: number, max: number): number | undefined {
  const value = config[field];
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new TargetConfigError(field, `must be an integer between ${min} and ${max}`);
  return n;
}

/** "1s", "500ms", "2m" or a number of milliseconds. */
export function optionalDuration(config: Config, field: string): number | undefined {
  const value = config[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && value > 0) return value;
  const match = typeof value === 'string' ? /^(\d+)(ms|s|m)?$/.exec(value.trim()) : null;
  if (!match || Number(match[1]) <= 0) throw new TargetConfigError(field, 'must be a duration such as "1s" or "500ms"');
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm'];
}

export function optionalBoolean(config: Config, field: string): boolean | undefined {
  const value = config[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new TargetConfigError(field, 'must be true or false');
  return value;
}

export function optionalObject(config: Config, field: string): Config | undefined {
  const value = config[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new TargetConfigError(field, 'must be an object');
  return value as Config;
}

export interface PostVerifyConfig {
  host: string;
  port: number;
  servername?: string;
  starttls?: 'smtp';
  timeoutMs?: number;
  attempts?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * certctl's `post_deploy_verify {enabled, endpoint "host:port", timeout}` with `post_deploy_verify_attempts`,
 * `_backoff` and `_max_backoff`; we also accept `server_name` (SNI). Undefined when verification is off.
 */
export function postVerify(config: Config): PostVerifyConfig | undefined {
  const block = optionalObject(config, 'post_deploy_verify');
  if (!block || block.enabled === false) return undefined;
  const endpoint = optionalString(block, 'endpoint');
  if (endpoint === undefined) throw new TargetConfigError('post_deploy_verify.endpoint', 'is required when verification is enabled');
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(endpoint);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw new TargetConfigError('post_deploy_verify.endpoint', 'must be host:port');
  const prefixed = (field: string) => `post_deploy_verify_${field}`;
  const nested = (fn: (c: Config, f: string) => number | undefined, field: string) => {
    try {
      return fn(block, field);
    } catch (err) {
      throw new TargetConfigError(`post_deploy_verify.${field}`, (err as TargetConfigError).problem);
    }
  };
  return {
    host: match[1]!, port: Number(match[2]),
    servername: optionalString(block, 'server_name'),
    starttls: starttlsOf(block),
    timeoutMs: nested(optionalDuration, 'timeout'),
    attempts: optionalInteger(config, prefixed('attempts'), 1, 10),
    initialBackoffMs: optionalDuration(config, prefixed('backoff')),
    maxBackoffMs: optionalDuration(config, prefixed('max_backoff')),
  };
}

function starttlsOf(block: Config): 'smtp' | undefined {
  const value = optionalString(block, 'starttls');
  if (value !== undefined && value !== 'smtp') throw new TargetConfigError('post_deploy_verify.starttls', 'must be "smtp" when given');
  return value;
}
