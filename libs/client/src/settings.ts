import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CertctlConfigError } from './errors';

/** The api at its default local address (`npm start`). certctl's CLI defaults to https://localhost:8443. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

export interface ClientSettings {
  serverUrl: string;
  apiKey?: string;
  /** Per request, so a hung api does not hang the CLI or an MCP tool call. */
  timeoutMs: number;
  /** Things worth telling the user that do not stop the call (e.g. a key in a file others can read). */
  warnings?: string[];
  /** Where the key came from, when that is not obvious (a config file): the MCP server says it on stderr. */
  keySource?: string;
}

export interface SettingsSources {
  /** Explicit values (CLI flags); they win over the environment, which wins over the config file. */
  flags?: { server?: string; apiKey?: string; config?: string; timeoutMs?: number };
  /** The environment to read `CERTCTL_SERVER_URL`, `CERTCTL_API_KEY`, `CERTCTL_CONFIG` from (process.env at the edge). */
  env: Record<string, string | undefined>;
  /**
   * Only what this process's own configuration names (the MCP server): the environment, or a file named by
   * CERTCTL_CONFIG, never the CLI's default file; and a CERTCTL_API_KEY that is set but empty is an error, not a
   * reason to look elsewhere (an empty key in a viewer's environment must not pick up someone's admin key).
   */
  namedOnly?: boolean;
}

/** The config file's shape: `{"server_url": "...", "api_key": "..."}` (certctl's names). */
interface ConfigFile {
  server_url?: string;
  api_key?: string;
  /** Set when the file holds a key but group or others may read it. */
  exposedKeyWarning?: string;
}

/**
 * Where the CLI and the MCP server find the api and their key: flags, then `CERTCTL_SERVER_URL`/`CERTCTL_API_KEY`,
 * then a JSON config file (`--config`, `CERTCTL_CONFIG`, else `$XDG_CONFIG_HOME/certctl/config.json` or
 * `~/.config/certctl/config.json`, used only if it exists). The environment is passed in, not read here, so the
 * resolution is a pure function of its inputs.
 */
export function resolveSettings(sources: SettingsSources): ClientSettings {
  const { flags = {}, env, namedOnly = false } = sources;
  if (namedOnly && env.CERTCTL_API_KEY !== undefined && !nonEmpty(env.CERTCTL_API_KEY)) {
    throw new CertctlConfigError('CERTCTL_API_KEY is set but empty: give it a key (no config file is consulted when it is set)');
  }
  const namedFile = flags.config ?? env.CERTCTL_CONFIG;
  const filePath = nonEmpty(namedFile) ?? defaultConfigPath(env);
  const file: ConfigFile = namedOnly && !nonEmpty(namedFile) ? {} : readConfigFile(namedFile, env);
  const serverUrl = flags.server ?? nonEmpty(env.CERTCTL_SERVER_URL) ?? file.server_url ?? DEFAULT_SERVER_URL;
  const explicitKey = flags.apiKey ?? nonEmpty(env.CERTCTL_API_KEY);
  const apiKey = explicitKey ?? nonEmpty(file.api_key);
  const keyFromFile = explicitKey === undefined && apiKey !== undefined;
  const warnings = file.exposedKeyWarning && keyFromFile ? [file.exposedKeyWarning] : [];
  return {
    serverUrl: normaliseServerUrl(serverUrl), apiKey, timeoutMs: flags.timeoutMs ?? 30_000,
    ...(warnings.length ? { warnings } : {}),
    ...(keyFromFile ? { keySource: `"api_key" in ${filePath}` } : {}),
  };
}

export function defaultConfigPath(env: Record<string, string | undefined>): string {
  const base = nonEmpty(env.XDG_CONFIG_HOME) ?? join(nonEmpty(env.HOME) ?? homedir(), '.config');
  return join(base, 'certctl', 'config.json');
}

function readConfigFile(explicitPath: string | undefined, env: Record<string, string | undefined>): ConfigFile {
  const path = nonEmpty(explicitPath) ?? defaultConfigPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // The default file is optional; a file the user named must exist.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !nonEmpty(explicitPath)) return {};
    throw new CertctlConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CertctlConfigError(`config file ${path} is not valid JSON (expected {"server_url": "...", "api_key": "..."})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CertctlConfigError(`config file ${path} must hold a JSON object with server_url and api_key`);
  }
  const { server_url, api_key } = parsed as Record<string, unknown>;
  for (const [field, value] of [['server_url', server_url], ['api_key', api_key]] as const) {
    if (value !== undefined && typeof value !== 'string') throw new CertctlConfigError(`config file ${path}: ${field} must be a string`);
  }
  // Like ssh with a private key, but a warning rather than a refusal: the key may be a read-only one.
  const exposed = typeof api_key === 'string' && (statSync(path).mode & 0o077) !== 0;
  return {
    server_url: server_url as string | undefined,
    api_key: api_key as string | undefined,
    exposedKeyWarning: exposed ? `config file ${path} holds an API key and other users may read it: chmod 600 ${path}` : undefined,
  };
}

export function normaliseServerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CertctlConfigError(`server URL "${value}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CertctlConfigError(`server URL "${value}" must start with http:// or https://`);
  }
  return url.toString().replace(/\/+$/, '');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
