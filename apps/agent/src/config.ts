import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  DEFAULT_ALLOWED_ROOTS, DEFAULT_COMMAND_ALLOWLIST, DeployPolicy, deployPolicyOf, parseAllowedRoots, parseCommandAllowlist,
} from '../../../libs/deploy/src/policy';
import { AGENT_WORK_MAX_WAIT_SECONDS } from '../../../libs/contracts/src/agent-protocol';
import type { LogLevel } from './logger';
import { AGENT_VERSION } from './version';

export interface AgentConfig {
  serverUrl: string;
  agentId: string;
  apiKey: string;
  /** PEM of extra CAs to trust for an https server. */
  caPem?: string;
  keyDir: string;
  stateDir: string;
  pollIntervalMs: number;
  /** How long one held work request (long-poll) may wait on the server; 0: no long-poll, polling only. */
  longPollWaitMs: number;
  heartbeatIntervalMs: number;
  backoffBaseMs: number;
  maxBackoffMs: number;
  requestTimeoutMs: number;
  commandTimeoutMs: number;
  backupRetention?: number;
  /** This host's administrator's limits on target configs (commands, destination directories, command user); unset: the defaults. */
  deployPolicy?: DeployPolicy;
  discoveryDirs: string[];
  discoveryIntervalMs: number;
  logLevel: LogLevel;
}

/** A setting that is missing or wrong; the message names the flag, variable or config-file field. Exit code 2. */
export class ConfigError extends Error {}

interface Setting {
  flag: string;
  env: string;
  file: string;
  describe: string;
  defaultValue?: string;
}

/** Every setting, by flag, environment variable and config-file field (flags win, then the environment, then the file). */
const SETTINGS = {
  serverUrl: { flag: 'server-url', env: 'CERTCTL_SERVER_URL', file: 'server_url', describe: 'the certctl api, e.g. https://certctl.example.com (http only to a loopback address)' },
  agentId: { flag: 'agent-id', env: 'CERTCTL_AGENT_ID', file: 'agent_id', describe: 'this agent\'s id, from POST /api/v1/agents' },
  apiKey: { flag: 'api-key', env: 'CERTCTL_API_KEY', file: 'api_key', describe: 'the agent\'s API key (prefer the environment or --api-key-file: flags show in ps)' },
  apiKeyFile: { flag: 'api-key-file', env: 'CERTCTL_API_KEY_FILE', file: 'api_key_file', describe: 'a file holding the agent\'s API key' },
  caFile: { flag: 'ca-file', env: 'CERTCTL_AGENT_CA_FILE', file: 'ca_file', describe: 'PEM CA bundle to trust for the server (a private CA)' },
  keyDir: { flag: 'key-dir', env: 'CERTCTL_KEY_DIR', file: 'key_dir', describe: 'where private keys made on this host are kept (0700)', defaultValue: '/var/lib/certctl/keys' },
  stateDir: { flag: 'state-dir', env: 'CERTCTL_AGENT_STATE_DIR', file: 'state_dir', describe: 'the journal of work in flight', defaultValue: '/var/lib/certctl/agent' },
  pollInterval: {
    flag: 'poll-interval', env: 'CERTCTL_AGENT_POLL_INTERVAL', file: 'poll_interval',
    describe: 'how often to ask for work (default 5m while long-poll is on: a fallback; 30s with --long-poll off)',
  },
  longPoll: {
    flag: 'long-poll', env: 'CERTCTL_AGENT_LONG_POLL', file: 'long_poll',
    describe: `how long one held request for work waits on the server, which answers as soon as work appears (at most ${AGENT_WORK_MAX_WAIT_SECONDS}s; "off": poll only)`,
    defaultValue: '25s',
  },
  heartbeatInterval: { flag: 'heartbeat-interval', env: 'CERTCTL_AGENT_HEARTBEAT_INTERVAL', file: 'heartbeat_interval', describe: 'how often to say "alive"', defaultValue: '60s' },
  backoffBase: { flag: 'backoff-base', env: 'CERTCTL_AGENT_BACKOFF_BASE', file: 'backoff_base', describe: 'first wait after a failed call (doubling)', defaultValue: '1s' },
  maxBackoff: { flag: 'max-backoff', env: 'CERTCTL_AGENT_MAX_BACKOFF', file: 'max_backoff', describe: 'longest wait between calls while the server fails', defaultValue: '5m' },
  requestTimeout: { flag: 'request-timeout', env: 'CERTCTL_AGENT_REQUEST_TIMEOUT', file: 'request_timeout', describe: 'per request to the server', defaultValue: '30s' },
  commandTimeout: { flag: 'command-timeout', env: 'CERTCTL_DEPLOY_COMMAND_TIMEOUT', file: 'command_timeout', describe: 'per validate or reload command', defaultValue: '30s' },
  backupRetention: { flag: 'backup-retention', env: 'CERTCTL_DEPLOY_BACKUP_RETENTION', file: 'backup_retention', describe: 'backups kept beside each deployed file (-1: none)' },
  commandAllowlist: {
    flag: 'command-allowlist', env: 'CERTCTL_DEPLOY_COMMAND_ALLOWLIST', file: 'command_allowlist',
    describe: 'validate/reload commands target configs may run here: argv patterns, one per line or ";"-separated (default: the packaged daemons\' own, e.g. "nginx -t", "systemctl reload *")',
  },
  allowedRoots: {
    flag: 'allowed-roots', env: 'CERTCTL_DEPLOY_ALLOWED_ROOTS', file: 'allowed_roots',
    describe: 'comma-separated directories target files may be written under (default: /etc/ssl, /etc/pki, /etc/nginx, ... of the packaged daemons)',
  },
  commandUser: {
    flag: 'command-user', env: 'CERTCTL_DEPLOY_COMMAND_USER', file: 'command_user',
    describe: 'when the agent runs as root: "user" or "user:group" that validate/reload commands run as',
  },
  discoveryDirs: { flag: 'discovery-dirs', env: 'CERTCTL_DISCOVERY_DIRS', file: 'discovery_dirs', describe: 'comma-separated directories searched for certificate files' },
  discoveryInterval: { flag: 'discovery-interval', env: 'CERTCTL_DISCOVERY_INTERVAL', file: 'discovery_interval', describe: 'how often to search them', defaultValue: '6h' },
  logLevel: { flag: 'log-level', env: 'CERTCTL_LOG_LEVEL', file: 'log_level', describe: 'debug, info, warn or error', defaultValue: 'info' },
} satisfies Record<string, Setting>;

type SettingName = keyof typeof SETTINGS;

/** The command line, parsed with node:util (no flag library: every megabyte of an idle agent counts). */
export interface AgentArgs {
  flags: Record<string, string | boolean | undefined>;
  help: boolean;
  version: boolean;
}

/** Throws ConfigError for an unknown flag or a flag without its value. */
export function parseAgentArgs(argv: string[]): AgentArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    config: { type: 'string', short: 'c' }, once: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' },
  };
  for (const setting of Object.values(SETTINGS)) options[setting.flag] = { type: 'string' };
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return { flags: values, help: Boolean(values.help), version: Boolean(values.version) };
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (see --help)`);
  }
}

export function usage(): string {
  const lines = [
    `certctl-agent ${AGENT_VERSION}: makes keys on this host, gets them certified by certctl and deploys them to local servers.`,
    '',
    'Usage: certctl-agent [--config FILE] [--once] [--<setting> VALUE ...]',
    '',
    '  -c, --config FILE          JSON config file (CERTCTL_AGENT_CONFIG); its fields are the settings\' names below',
    '      --once                 heartbeat, do the work waiting now, then exit',
    '  -h, --help / -V, --version',
    '',
    'Settings (flag, environment variable, config-file field; flags win, then the environment, then the file):',
  ];
  for (const s of Object.values(SETTINGS) as Setting[]) {
    lines.push(`  --${s.flag}  ${s.env}  "${s.file}"${s.defaultValue ? `  (default ${s.defaultValue})` : ''}`, `      ${s.describe}`);
  }
  lines.push('', 'Exit codes: 0 stopped (SIGTERM/SIGINT), 2 bad settings, 3 the server rejected the agent (key revoked, agent retired), 1 crash.');
  return `${lines.join('\n')}\n`;
}

/** Resolves the settings from parsed flags, the environment and the config file, and checks them. */
export function resolveConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const configPath = flags.config ?? env.CERTCTL_AGENT_CONFIG;
  const file = configPath ? readConfigFile(String(configPath)) : {};
  const sourceOf = (name: SettingName): { value: string | undefined; where: string } => {
    const s: Setting = SETTINGS[name];
    const flagValue = flags[s.flag];
    if (flagValue !== undefined) return { value: String(flagValue), where: `--${s.flag}` };
    if (env[s.env] !== undefined && env[s.env] !== '') return { value: env[s.env], where: s.env };
    const fileValue = file[s.file];
    if (fileValue !== undefined && fileValue !== null) {
      const separator = name === 'commandAllowlist' ? '\n' : ',';
      return { value: Array.isArray(fileValue) ? fileValue.join(separator) : String(fileValue), where: `${s.file} in ${configPath}` };
    }
    return { value: s.defaultValue, where: `--${s.flag} / ${s.env}` };
  };
  const required = (name: SettingName): string => {
    const { value } = sourceOf(name);
    const s: Setting = SETTINGS[name];
    if (!value) throw new ConfigError(`${s.env} is required (or --${s.flag}, or "${s.file}" in the config file): ${s.describe}`);
    return value;
  };
  const duration = (name: SettingName): number => {
    const { value, where } = sourceOf(name);
    return parseDuration(value ?? '', where);
  };

  const longPollWaitMs = parseLongPoll(sourceOf('longPoll'));
  const serverUrl = checkServerUrl(required('serverUrl'), sourceOf('serverUrl').where);
  const agentId = required('agentId');
  let apiKey = sourceOf('apiKey').value;
  const keyFile = sourceOf('apiKeyFile');
  if (!apiKey && keyFile.value) apiKey = readText(keyFile.value, keyFile.where).trim();
  if (!apiKey) throw new ConfigError(`${SETTINGS.apiKey.env} is required (or ${SETTINGS.apiKeyFile.env}, --api-key-file, or "api_key" in the config file)`);
  const ca = sourceOf('caFile');
  const retention = sourceOf('backupRetention');
  const logLevel = sourceOf('logLevel');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel.value ?? '')) throw new ConfigError(`${logLevel.where}: must be debug, info, warn or error`);

  const config: AgentConfig = {
    serverUrl,
    agentId,
    apiKey,
    caPem: ca.value ? readText(ca.value, ca.where) : undefined,
    keyDir: required('keyDir'),
    stateDir: required('stateDir'),
    longPollWaitMs,
    pollIntervalMs: sourceOf('pollInterval').value === undefined ? (longPollWaitMs ? 5 * 60_000 : 30_000) : duration('pollInterval'),
    heartbeatIntervalMs: duration('heartbeatInterval'),
    backoffBaseMs: duration('backoffBase'),
    maxBackoffMs: duration('maxBackoff'),
    requestTimeoutMs: duration('requestTimeout'),
    commandTimeoutMs: duration('commandTimeout'),
    backupRetention: retention.value === undefined ? undefined : parseInteger(retention.value, retention.where, -1, 100),
    deployPolicy: resolveDeployPolicy(sourceOf),
    discoveryDirs: (sourceOf('discoveryDirs').value ?? '').split(',').map((d) => d.trim()).filter(Boolean),
    discoveryIntervalMs: duration('discoveryInterval'),
    logLevel: logLevel.value as LogLevel,
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(agentId)) throw new ConfigError(`${sourceOf('agentId').where}: not an agent id`);
  for (const dir of config.discoveryDirs) if (!dir.startsWith('/')) throw new ConfigError(`${sourceOf('discoveryDirs').where}: ${dir} is not an absolute path`);
  return config;
}

/** The same allow-list grammar and directories as the server's settings, owned here by the host's administrator. */
function resolveDeployPolicy(sourceOf: (name: SettingName) => { value: string | undefined; where: string }): DeployPolicy {
  const parsed = <T>(name: SettingName, fallback: string, parse: (text: string) => T[]): T[] => {
    const { value, where } = sourceOf(name);
    try {
      const list = parse(value?.trim() ? value : fallback);
      if (!list.length) throw new Error('must name at least one entry');
      return list;
    } catch (err) {
      throw new ConfigError(`${where}: ${(err as Error).message}`);
    }
  };
  const commandAllowlist = parsed('commandAllowlist', DEFAULT_COMMAND_ALLOWLIST, parseCommandAllowlist);
  const allowedRoots = parsed('allowedRoots', DEFAULT_ALLOWED_ROOTS, parseAllowedRoots);
  const user = sourceOf('commandUser');
  try {
    return deployPolicyOf({ commandAllowlist, allowedRoots, commandUser: user.value?.trim() || undefined });
  } catch (err) {
    throw new ConfigError(`${user.where}: ${(err as Error).message}`);
  }
}

/** A wait the server takes (whole seconds up to its maximum), or "off". */
function parseLongPoll({ value, where }: { value: string | undefined; where: string }): number {
  if (value === undefined || ['off', '0', 'false'].includes(value.trim().toLowerCase())) return 0;
  const ms = parseDuration(value, where);
  if (ms % 1000 !== 0 || ms > AGENT_WORK_MAX_WAIT_SECONDS * 1000) {
    throw new ConfigError(`${where}: must be whole seconds, at most ${AGENT_WORK_MAX_WAIT_SECONDS}s (or "off")`);
  }
  return ms;
}

/** "100ms", "30s", "5m", "6h"; a bare number is seconds, as in the server's settings. */
export function parseDuration(text: string, where: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new ConfigError(`${where}: "${text}" is not a duration (use e.g. 500ms, 30s, 5m, 6h)`);
  const ms = Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (ms <= 0 || ms > 7 * 86_400_000) throw new ConfigError(`${where}: must be more than 0 and at most 7 days`);
  return Math.round(ms);
}

function parseInteger(text: string, where: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${where}: must be a whole number from ${min} to ${max}`);
  return n;
}

/** https, or http to a loopback address only: the API key must not cross a network in clear text. */
function checkServerUrl(text: string, where: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${where}: "${text}" is not a URL`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname);
  if (url.protocol === 'http:' && !loopback) throw new ConfigError(`${where}: use https (http is allowed only to a loopback address)`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${where}: must be an http(s) URL`);
  return url.toString().replace(/\/+$/, '');
}

function readConfigFile(path: string): Record<string, unknown> {
  const text = readText(path, `--config ${path}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--config ${path}: not JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`--config ${path}: must be a JSON object`);
  const known = new Set(Object.values(SETTINGS).map((s) => s.file));
  for (const field of Object.keys(parsed)) if (!known.has(field)) throw new ConfigError(`--config ${path}: unknown field "${field}"`);
  if ('api_key' in parsed && (statSync(path).mode & 0o077) !== 0) {
    throw new ConfigError(`--config ${path}: holds api_key but others may read it; chmod 600 ${path}`);
  }
  return parsed as Record<string, unknown>;
}

function readText(path: string, where: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

