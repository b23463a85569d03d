import { isIP } from 'node:net';
import { refusePlaceholders } from './env-check';
import { checkOutboundUrl, DEFAULT_UNIX_SOCKET_DIRS, OutboundPolicy } from './outbound-url';

/**
 * The one validated configuration of every certctl process. Nothing outside this lib reads process.env:
 * a bad value stops the process at boot with a message naming the variable (STYLE C9).
 * Variable names follow upstream certctl where it has one.
 */
export type AuthType = 'api-key' | 'oidc' | 'none';
export type LogFormat = 'json' | 'pretty';
export type KeygenMode = 'agent' | 'server';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AppConfig {
  /** Which app this process runs; used in logs and metrics. */
  serviceName: string;
  server: {
    host: string;
    port: number;
    maxBodyBytes: number;
    /** How long list totals and the stats summary may be reused (per api process). */
    readCacheTtlMs: number;
    /**
     * How long a SIGTERM'd process may take to finish its work in flight before it gives up and exits 1 (a queue
     * worker whose Redis is gone would otherwise wait forever). Keep it under the pod's termination grace period.
     */
    shutdownTimeoutMs: number;
    /**
     * CERTCTL_TRUSTED_PROXIES: the reverse proxies (IPs or CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are
     * believed — the client address for sessions and rate limits, and whether the browser spoke TLS (Secure
     * cookies). Empty (the default): those headers are ignored and the peer address is the client.
     */
    trustedProxies: string[];
  };
  /** Port of the /health, /ready, /metrics listener of each worker app. */
  workerPorts: { orchestrator: number; notifier: number; scanner: number };
  database: {
    url: string;
    maxConns: number;
    /**
     * Where migrations run: the schema owner's connection. The apps' own URL (a role that may only append to the
     * audit trail) is the default, for single-role setups; give the owner's URL only to the migrate job.
     */
    migrateUrl: string;
  };
  /** Boot waits this many attempts, retryDelayMs apart, for PostgreSQL (and Redis) before giving up. */
  startup: { attempts: number; retryDelayMs: number };
  redis: {
    url: string;
    queuePrefix: string;
    /** How long a worker's claim on a queue job lasts without renewal; a dead worker's jobs return after it. */
    lockDurationMs: number;
    /** How often workers look for jobs whose worker died (stalled jobs). */
    stalledIntervalMs: number;
  };
  auth: {
    type: AuthType;
    bootstrapApiKey: string | undefined;
    /** Console sessions after an OpenID sign-in: ended after this long unused, and this long after sign-in whatever happens. */
    sessionIdleMs: number;
    sessionAbsoluteMs: number;
    /** Lets an OpenID provider be reached over plain http (a provider on the same host in a test); never in production. */
    oidcAllowInsecureHttp: boolean;
    /** The local break-glass admin login: off unless enabled; locked for lockoutMs after `lockoutThreshold` failures. */
    breakglass: { enabled: boolean; lockoutThreshold: number; lockoutMs: number };
    /** How often the orchestrator deletes ended sessions and consumed back-channel logout jtis past their window. */
    sessionCleanupIntervalMs: number;
    /** An ended (expired or revoked) session row is kept this long for the record, then deleted. */
    sessionRetentionMs: number;
  };
  /** Four-eyes approval requests: a pending one expires after ttlMs (its held job fails with that reason). */
  approvals: { ttlMs: number };
  audit: {
    /**
     * Keys the audit trail's signed checkpoints (HMAC-SHA256). Held by the apps, never stored in the database, so
     * whoever can rewrite the database cannot re-seal the trail. Unset: the chain is an unkeyed hash (verify says so).
     */
    hmacKey: string | undefined;
    /** How often the api signs a checkpoint of the chain head when it has moved. */
    checkpointIntervalMs: number;
  };
  log: { level: LogLevel; format: LogFormat };
  demoSeed: boolean;
  /** A local demo (`npm start`, the dev overlay): template placeholder secrets are accepted. */
  demoMode: boolean;
  pki: {
    /** agent: keys are made on the hosts that use them (certificates mapped to agent targets); server: here. */
    keygenMode: KeygenMode;
    /** Encrypts secrets at rest (issuer secrets, server-generated keys, the local CA key). Required to hold any. */
    encryptionKey: string | undefined;
    /** Server-wide sub-CA for Local CA issuers, as PEM files. */
    caCertPath: string | undefined;
    caKeyPath: string | undefined;
    /** Deepest intermediate CA below an issuer's root (CERTCTL_INTERMEDIATE_MAX_DEPTH; 1 = directly under the root). */
    intermediateMaxDepth: number;
    /** Active intermediate CAs one issuer may hold (CERTCTL_INTERMEDIATE_MAX_PER_ISSUER). */
    intermediateMaxPerIssuer: number;
  };
  scheduler: {
    renewalCheckIntervalMs: number;
    jobTimeoutCheckIntervalMs: number;
    agentHealthCheckIntervalMs: number;
    reconcileIntervalMs: number;
    /** How often the orchestrator looks for ACME certificates whose renewal information (RFC 9773) is due a poll. */
    ariCheckIntervalMs: number;
    /** An AwaitingCSR job fails after this long without a CSR. */
    awaitingCsrTimeoutMs: number;
    /** How often running mass re-issue drills are moved on (old serials revoked once the new ones are served). */
    reissueAdvanceIntervalMs: number;
    /** An agent is Offline after this long without a heartbeat; its Running jobs go back to Pending. */
    agentOfflineAfterMs: number;
  };
  /** Agents' held work requests (GET /agents/{id}/work?wait=N). */
  agentLongPoll: {
    /** Held requests one api process keeps open at most; beyond it a long-poll is refused 429 (0: none held). */
    maxHeld: number;
  };
  issuance: {
    concurrency: number;
    /** First retry delay of a failed issuance; doubles each attempt. */
    retryBaseDelayMs: number;
  };
  /** Where calls to API-set destinations may go (issuers, targets, verify endpoints, notification channels). */
  outbound: OutboundPolicy;
  notifications: NotificationsConfig;
  acme: AcmeProcessConfig;
  /** Reports over the inventory (GET /reports/readiness). */
  reports: {
    /** CERTCTL_CAA_CACHE_TTL: how long one name's CAA answer is reused, so a report does not hammer DNS. */
    caaCacheTtlMs: number;
  };
  networkScan: NetworkScanConfig;
  healthCheck: HealthCheckConfig;
  revocation: RevocationConfig;
  acmeServer: AcmeServerConfig;
  /** Where operators look at the metrics over time: linked from the console's Observability page when set. */
  observabilityLinks: ObservabilityLinks;
}

export interface ObservabilityLinks {
  /** CERTCTL_GRAFANA_URL: a Grafana dashboard (or Grafana itself) showing certctl's metrics. */
  grafanaUrl: string | undefined;
  /** CERTCTL_PROMETHEUS_URL: the Prometheus that scrapes certctl. */
  prometheusUrl: string | undefined;
}

/** Both are shown to every signed-in reader as links, so only http(s) URLs are accepted (never `javascript:`). */
export function loadObservabilityLinks(env: Env): ObservabilityLinks {
  const link = (name: string) => {
    const raw = optional(env, name);
    if (raw === undefined) return undefined;
    const parsed = new URL(url(env, name, raw, ['http:', 'https:']));
    // Every reader of the console sees the link: a password in it would be handed to all of them.
    if (parsed.username || parsed.password) throw new ConfigError(name, 'must not carry credentials (user:password@)');
    return raw;
  };
  return { grafanaUrl: link('CERTCTL_GRAFANA_URL'), prometheusUrl: link('CERTCTL_PROMETHEUS_URL') };
}

function duration(env: Env, name: string, fallbackMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackMs;
  const match = /^(\d+)(ms|s|m|h)?$/.exec(raw.trim());
  if (!match) throw new ConfigError(name, `must be a duration like 500ms, 30s, 5m or 1h, got "${raw}"`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const value = Number(match[1]) * factor;
  if (value <= 0) throw new ConfigError(name, 'must be positive');
  return value;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** An integer variable within [min, max]; shared by every config section. */
export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const normalized = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(normalized)) return true;
  if (['false', '0', 'no', 'off'].includes(normalized)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name, fallback).trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${env[name]}"`);
  }
  return raw as T;
}

function url(env: Env, name: string, fallback: string, protocols: string[]): string {
  const raw = str(env, name, fallback);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${raw.replace(/\/\/[^@/]*@/, '//***@')}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
  }
  return raw;
}

/** Parses and validates the environment. Throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env, serviceName = 'certctl'): AppConfig {
  const demoMode = bool(env, 'CERTCTL_DEMO_MODE', false);
  refusePlaceholders(env, demoMode);
  const authType = oneOf(env, 'CERTCTL_AUTH_TYPE', ['api-key', 'oidc', 'none'] as const, 'api-key');
  const bootstrapApiKey = optional(env, 'CERTCTL_API_KEY');
  if (bootstrapApiKey !== undefined && bootstrapApiKey.length < 16) {
    throw new ConfigError('CERTCTL_API_KEY', 'must be at least 16 characters');
  }
  const encryptionKey = optional(env, 'CERTCTL_CONFIG_ENCRYPTION_KEY');
  if (encryptionKey !== undefined && Buffer.byteLength(encryptionKey) < 32) {
    throw new ConfigError('CERTCTL_CONFIG_ENCRYPTION_KEY', 'must be at least 32 bytes');
  }
  const databaseUrl = url(env, 'CERTCTL_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/certctl', ['postgres:', 'postgresql:']);
  const auditHmacKey = optional(env, 'CERTCTL_AUDIT_HMAC_KEY');
  if (auditHmacKey !== undefined && Buffer.byteLength(auditHmacKey) < 32) {
    throw new ConfigError('CERTCTL_AUDIT_HMAC_KEY', 'must be at least 32 bytes');
  }
  if ((env.CERTCTL_CA_CERT_PATH === undefined) !== (env.CERTCTL_CA_KEY_PATH === undefined)) {
    throw new ConfigError(env.CERTCTL_CA_CERT_PATH === undefined ? 'CERTCTL_CA_CERT_PATH' : 'CERTCTL_CA_KEY_PATH', 'must be set together with its pair');
  }
  return {
    serviceName,
    server: {
      host: str(env, 'CERTCTL_SERVER_HOST', '127.0.0.1'),
      port: int(env, 'CERTCTL_SERVER_PORT', 8080, 0, 65535),
      maxBodyBytes: int(env, 'CERTCTL_MAX_BODY_SIZE', 1024 * 1024, 1024, 64 * 1024 * 1024),
      readCacheTtlMs: duration(env, 'CERTCTL_READ_CACHE_TTL', 5_000),
      shutdownTimeoutMs: duration(env, 'CERTCTL_SHUTDOWN_TIMEOUT', 25_000),
      trustedProxies: trustedProxies(env),
    },
    workerPorts: {
      orchestrator: int(env, 'CERTCTL_ORCHESTRATOR_PORT', 8081, 0, 65535),
      notifier: int(env, 'CERTCTL_NOTIFIER_PORT', 8082, 0, 65535),
      scanner: int(env, 'CERTCTL_SCANNER_PORT', 8083, 0, 65535),
    },
    database: {
      url: databaseUrl,
      maxConns: int(env, 'CERTCTL_DATABASE_MAX_CONNS', 25, 1, 1000),
      migrateUrl: optional(env, 'CERTCTL_MIGRATE_DATABASE_URL') === undefined
        ? databaseUrl
        : url(env, 'CERTCTL_MIGRATE_DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:']),
    },
    startup: {
      attempts: int(env, 'CERTCTL_STARTUP_RETRIES', 10, 1, 1000),
      retryDelayMs: duration(env, 'CERTCTL_STARTUP_RETRY_DELAY', 3_000),
    },
    redis: {
      url: url(env, 'CERTCTL_REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
      queuePrefix: str(env, 'CERTCTL_QUEUE_PREFIX', 'certctl'),
      lockDurationMs: duration(env, 'CERTCTL_QUEUE_LOCK_DURATION', 30_000),
      stalledIntervalMs: duration(env, 'CERTCTL_QUEUE_STALLED_INTERVAL', 30_000),
    },
    auth: {
      type: authType,
      bootstrapApiKey,
      sessionIdleMs: duration(env, 'CERTCTL_SESSION_IDLE_TIMEOUT', 3_600_000),
      sessionAbsoluteMs: duration(env, 'CERTCTL_SESSION_ABSOLUTE_TIMEOUT', 8 * 3_600_000),
      oidcAllowInsecureHttp: bool(env, 'CERTCTL_OIDC_ALLOW_INSECURE_HTTP', false),
      breakglass: {
        enabled: bool(env, 'CERTCTL_BREAKGLASS_ENABLED', false),
        lockoutThreshold: int(env, 'CERTCTL_BREAKGLASS_LOCKOUT_THRESHOLD', 5, 1, 100),
        lockoutMs: duration(env, 'CERTCTL_BREAKGLASS_LOCKOUT_DURATION', 15 * 60_000),
      },
      sessionCleanupIntervalMs: duration(env, 'CERTCTL_SESSION_CLEANUP_INTERVAL', 15 * 60_000),
      sessionRetentionMs: duration(env, 'CERTCTL_SESSION_RETENTION', 7 * 24 * 3_600_000),
    },
    approvals: { ttlMs: duration(env, 'CERTCTL_APPROVAL_TTL', 24 * 3_600_000) },
    audit: {
      hmacKey: auditHmacKey,
      checkpointIntervalMs: duration(env, 'CERTCTL_AUDIT_CHECKPOINT_INTERVAL', 5_000),
    },
    log: {
      level: oneOf(env, 'CERTCTL_LOG_LEVEL', LOG_LEVELS, 'info'),
      format: oneOf(env, 'CERTCTL_LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
    },
    demoSeed: bool(env, 'CERTCTL_DEMO_SEED', true),
    demoMode,
    pki: {
      keygenMode: oneOf(env, 'CERTCTL_KEYGEN_MODE', ['agent', 'server'] as const, 'agent'),
      encryptionKey,
      caCertPath: optional(env, 'CERTCTL_CA_CERT_PATH'),
      caKeyPath: optional(env, 'CERTCTL_CA_KEY_PATH'),
      intermediateMaxDepth: int(env, 'CERTCTL_INTERMEDIATE_MAX_DEPTH', 4, 1, 10),
      intermediateMaxPerIssuer: int(env, 'CERTCTL_INTERMEDIATE_MAX_PER_ISSUER', 20, 1, 1000),
    },
    scheduler: {
      renewalCheckIntervalMs: duration(env, 'CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL', 3_600_000),
      jobTimeoutCheckIntervalMs: duration(env, 'CERTCTL_SCHEDULER_JOB_TIMEOUT_INTERVAL', 60_000),
      agentHealthCheckIntervalMs: duration(env, 'CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL', 120_000),
      reconcileIntervalMs: duration(env, 'CERTCTL_SCHEDULER_RECONCILE_INTERVAL', 60_000),
      ariCheckIntervalMs: duration(env, 'CERTCTL_SCHEDULER_ARI_CHECK_INTERVAL', 15 * 60_000),
      awaitingCsrTimeoutMs: duration(env, 'CERTCTL_JOB_AWAITING_CSR_TIMEOUT', 24 * 3_600_000),
      reissueAdvanceIntervalMs: duration(env, 'CERTCTL_SCHEDULER_REISSUE_ADVANCE_INTERVAL', 15_000),
      agentOfflineAfterMs: duration(env, 'CERTCTL_AGENT_OFFLINE_AFTER', 5 * 60_000),
    },
    agentLongPoll: {
      maxHeld: int(env, 'CERTCTL_AGENT_LONG_POLL_MAX_HELD', 10_000, 0, 1_000_000),
    },
    issuance: {
      concurrency: int(env, 'CERTCTL_RENEWAL_CONCURRENCY', 25, 1, 500),
      retryBaseDelayMs: duration(env, 'CERTCTL_ISSUANCE_RETRY_BASE_DELAY', 30_000),
    },
    outbound: loadOutboundPolicy(env),
    notifications: loadNotificationsConfig(env),
    acme: loadAcmeConfig(env),
    reports: { caaCacheTtlMs: duration(env, 'CERTCTL_CAA_CACHE_TTL', 5 * 60_000) },
    networkScan: loadNetworkScanConfig(env),
    healthCheck: loadHealthCheckConfig(env),
    revocation: loadRevocationConfig(env),
    acmeServer: loadAcmeServerConfig(env),
    observabilityLinks: loadObservabilityLinks(env),
  };
}

// ---- Notifications (notifier channels, retry policy, digest) ----

/** Channel names as in certctl (the same list as @certctl/contracts, which this lib does not depend on). */
const CHANNEL_NAMES = ['Email', 'Slack', 'Teams', 'PagerDuty', 'OpsGenie', 'Webhook'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

/** Most retries a notification can be given; BullMQ jobs are enqueued with this as their ceiling. */
export const MAX_NOTIFICATION_ATTEMPTS = 20;

export interface NotificationsConfig {
  /** Delivery attempts in all before a notification is dead-lettered. */
  maxAttempts: number;
  /** Attempt n waits min(2^(n-1) x base, max) before the next one. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Deliveries in flight per notifier process. */
  concurrency: number;
  /** How often the reconciler re-enqueues due rows whose queue job vanished (upstream's retry sweep interval). */
  reconcileIntervalMs: number;
  httpTimeoutMs: number;
  /** Channels used when a certificate's renewal policy names none for the alert's tier. */
  defaultChannels: ChannelName[];
  /** Email recipient when a certificate has no owner email (or there is no certificate). */
  defaultRecipient: string | undefined;
  /** Links in messages point at `${linkBaseUrl}/certificates/{id}`. */
  linkBaseUrl: string;
  smtp: {
    host: string | undefined;
    port: number;
    username: string | undefined;
    password: string | undefined;
    fromAddress: string;
    /** STARTTLS required (implicit TLS on port 465). */
    useTls: boolean;
    /** PEM bundle trusted for the SMTP server's certificate, in addition to the system's. */
    caCertPath: string | undefined;
  };
  slack: { webhookUrl: string | undefined; channel: string | undefined; username: string };
  teams: { webhookUrl: string | undefined };
  pagerduty: { routingKey: string | undefined; severity: string; eventsUrl: string };
  opsgenie: { apiKey: string | undefined; priority: string; apiUrl: string };
  webhook: { url: string | undefined; secret: string | undefined };
  digest: { enabled: boolean; intervalMs: number; recipients: string[]; windowDays: number };
}

function outboundUrl(env: Env, name: string, fallback: string | undefined, policy: OutboundPolicy): string | undefined {
  const raw = optional(env, name) ?? fallback;
  if (raw === undefined) return undefined;
  try {
    checkOutboundUrl(raw, policy);
  } catch (err) {
    throw new ConfigError(name, err instanceof Error ? err.message : String(err));
  }
  return raw;
}

/** CERTCTL_TRUSTED_PROXIES: comma-separated IPv4/IPv6 addresses or CIDRs; anything else stops the process. */
function trustedProxies(env: Env): string[] {
  const entries = list(env, 'CERTCTL_TRUSTED_PROXIES');
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (!family || !prefixOk || extra !== undefined) {
      throw new ConfigError('CERTCTL_TRUSTED_PROXIES', `must list IP addresses or CIDRs (10.0.0.0/8, ::1), got "${entry}"`);
    }
  }
  return entries;
}

function list(env: Env, name: string): string[] {
  return (optional(env, name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function opsgeniePriority(env: Env): string {
  const priority = str(env, 'CERTCTL_OPSGENIE_PRIORITY', 'P3').trim().toUpperCase();
  if (!/^P[1-5]$/.test(priority)) throw new ConfigError('CERTCTL_OPSGENIE_PRIORITY', `must be one of P1..P5, got "${priority}"`);
  return priority;
}

// ---- Outbound policy (every destination an API caller can set) ----

/**
 * CERTCTL_OUTBOUND_ALLOW_LOOPBACK (CERTCTL_NOTIFIER_ALLOW_LOOPBACK, its notifier-only predecessor, still counts when
 * it is unset), CERTCTL_BLOCK_RFC1918_OUTBOUND and CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS ("none" for no socket at all).
 */
export function loadOutboundPolicy(env: Env): OutboundPolicy {
  const loopbackVariable = optional(env, 'CERTCTL_OUTBOUND_ALLOW_LOOPBACK') === undefined ? 'CERTCTL_NOTIFIER_ALLOW_LOOPBACK' : 'CERTCTL_OUTBOUND_ALLOW_LOOPBACK';
  const socketDirs = optional(env, 'CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS');
  let unixSocketDirs = DEFAULT_UNIX_SOCKET_DIRS;
  if (socketDirs !== undefined) {
    unixSocketDirs = socketDirs.trim().toLowerCase() === 'none' ? [] : list(env, 'CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS');
    const relative = unixSocketDirs.find((dir) => !dir.startsWith('/') || dir.split('/').includes('..') || dir === '/');
    if (relative !== undefined) {
      throw new ConfigError('CERTCTL_OUTBOUND_UNIX_SOCKET_DIRS', `must list absolute directories other than / (or "none"), got "${relative}"`);
    }
  }
  return Object.freeze({
    allowLoopback: bool(env, loopbackVariable, false),
    allowPrivate: !bool(env, 'CERTCTL_BLOCK_RFC1918_OUTBOUND', false),
    unixSocketDirs,
  });
}

export function loadNotificationsConfig(env: Env): NotificationsConfig {
  const policy = loadOutboundPolicy(env);
  const defaultChannels = list(env, 'CERTCTL_NOTIFICATION_DEFAULT_CHANNELS');
  for (const channel of defaultChannels) {
    if (!(CHANNEL_NAMES as readonly string[]).includes(channel)) {
      throw new ConfigError('CERTCTL_NOTIFICATION_DEFAULT_CHANNELS', `must list channels of ${CHANNEL_NAMES.join(', ')}, got "${channel}"`);
    }
  }
  const backoffBaseMs = duration(env, 'CERTCTL_NOTIFICATION_BACKOFF_BASE', 60_000);
  const backoffMaxMs = duration(env, 'CERTCTL_NOTIFICATION_BACKOFF_MAX', 3_600_000);
  if (backoffMaxMs < backoffBaseMs) {
    throw new ConfigError('CERTCTL_NOTIFICATION_BACKOFF_MAX', 'must not be shorter than CERTCTL_NOTIFICATION_BACKOFF_BASE');
  }
  const smtpPort = int(env, 'CERTCTL_SMTP_PORT', 587, 1, 65535);
  const host = str(env, 'CERTCTL_SERVER_HOST', '127.0.0.1');
  const port = str(env, 'CERTCTL_SERVER_PORT', '8080');
  return {
    maxAttempts: int(env, 'CERTCTL_NOTIFICATION_MAX_ATTEMPTS', 5, 1, MAX_NOTIFICATION_ATTEMPTS),
    backoffBaseMs,
    backoffMaxMs,
    concurrency: int(env, 'CERTCTL_NOTIFICATION_CONCURRENCY', 32, 1, 1000),
    reconcileIntervalMs: duration(env, 'CERTCTL_NOTIFICATION_RETRY_INTERVAL', 120_000),
    httpTimeoutMs: duration(env, 'CERTCTL_NOTIFICATION_HTTP_TIMEOUT', 10_000),
    defaultChannels: (defaultChannels.length ? defaultChannels : ['Email']) as ChannelName[],
    defaultRecipient: optional(env, 'CERTCTL_NOTIFICATION_DEFAULT_RECIPIENT'),
    linkBaseUrl: url(env, 'CERTCTL_NOTIFICATION_LINK_BASE_URL', `http://${host.includes(':') ? `[${host}]` : host}:${port}`, ['http:', 'https:']).replace(/\/+$/, ''),
    smtp: {
      host: optional(env, 'CERTCTL_SMTP_HOST'),
      port: smtpPort,
      username: optional(env, 'CERTCTL_SMTP_USERNAME'),
      password: optional(env, 'CERTCTL_SMTP_PASSWORD'),
      fromAddress: str(env, 'CERTCTL_SMTP_FROM_ADDRESS', 'certctl@localhost'),
      useTls: bool(env, 'CERTCTL_SMTP_USE_TLS', true),
      caCertPath: optional(env, 'CERTCTL_SMTP_CA_CERT_PATH'),
    },
    slack: {
      webhookUrl: outboundUrl(env, 'CERTCTL_SLACK_WEBHOOK_URL', undefined, policy),
      channel: optional(env, 'CERTCTL_SLACK_CHANNEL'),
      username: str(env, 'CERTCTL_SLACK_USERNAME', 'certctl'),
    },
    teams: { webhookUrl: outboundUrl(env, 'CERTCTL_TEAMS_WEBHOOK_URL', undefined, policy) },
    pagerduty: {
      routingKey: optional(env, 'CERTCTL_PAGERDUTY_ROUTING_KEY'),
      severity: oneOf(env, 'CERTCTL_PAGERDUTY_SEVERITY', ['critical', 'error', 'warning', 'info'] as const, 'warning'),
      eventsUrl: outboundUrl(env, 'CERTCTL_PAGERDUTY_EVENTS_URL', 'https://events.pagerduty.com/v2/enqueue', policy)!,
    },
    opsgenie: {
      apiKey: optional(env, 'CERTCTL_OPSGENIE_API_KEY'),
      priority: opsgeniePriority(env),
      apiUrl: outboundUrl(env, 'CERTCTL_OPSGENIE_API_URL', 'https://api.opsgenie.com/v2/alerts', policy)!,
    },
    webhook: {
      url: outboundUrl(env, 'CERTCTL_WEBHOOK_URL', undefined, policy),
      secret: optional(env, 'CERTCTL_WEBHOOK_SECRET'),
    },
    digest: {
      enabled: bool(env, 'CERTCTL_DIGEST_ENABLED', false),
      intervalMs: duration(env, 'CERTCTL_DIGEST_INTERVAL', 24 * 3_600_000),
      recipients: list(env, 'CERTCTL_DIGEST_RECIPIENTS'),
      windowDays: int(env, 'CERTCTL_DIGEST_WINDOW_DAYS', 30, 1, 3650),
    },
  };
}

// ---- ACME issuers (http-01 responder) ----

export interface AcmeProcessConfig {
  /**
   * CERTCTL_ACME_HTTP_PORT: where the orchestrator answers http-01 challenges (from Redis) when an ACME issuer
   * has no http_port of its own. Set, the responder listens from boot; unset, port 80 is opened on first use.
   */
  httpPort: number | undefined;
  /** CERTCTL_CAA_RESOLVER: `host:port` of the DNS server CAA is read from before ordering from an ACME CA; unset, the system's. */
  caaResolver: string | undefined;
}

function loadAcmeConfig(env: Env): AcmeProcessConfig {
  const raw = optional(env, 'CERTCTL_ACME_HTTP_PORT');
  return { httpPort: raw === undefined ? undefined : int(env, 'CERTCTL_ACME_HTTP_PORT', 80, 1, 65535), caaResolver: dnsServer(env, 'CERTCTL_CAA_RESOLVER') };
}

/** A DNS server as `host:port` (`[v6]:port` for IPv6), the form node:dns setServers takes. */
function dnsServer(env: Env, name: string): string | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  const match = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw.trim());
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw new ConfigError(name, `must be host:port (e.g. 127.0.0.1:53 or [::1]:53), got "${raw}"`);
  return raw.trim();
}

// ---- Network discovery (scanner) ----

export interface NetworkScanConfig {
  /** Most addresses one target may cover (all its CIDRs together). */
  maxAddresses: number;
  /** Tests only: lets targets cover 127.0.0.0/8 (and the other reserved ranges stay refused). */
  allowLoopback: boolean;
  /** Refuses 10/8, 172.16/12 and 192.168/16 in targets (upstream's opt-in block). */
  blockRfc1918: boolean;
  /** Sockets in flight per scanner process, over all the shards it runs (the TCP connect sweep). */
  concurrency: number;
  /** TLS handshakes at once per scanner process, on ports the sweep found open (CPU-bound: more only queues). */
  handshakeConcurrency: number;
  /** Shard jobs one scanner process runs at once. */
  shardConcurrency: number;
  /** Addresses per shard job. */
  shardSize: number;
  /** New connections per second of one scan, across every replica, unless its target says less. */
  rateLimitPerSecond: number;
  /** How often the scanner looks for targets whose own interval has elapsed. */
  dueCheckIntervalMs: number;
}

export function loadNetworkScanConfig(env: Env): NetworkScanConfig {
  return {
    maxAddresses: int(env, 'CERTCTL_NETWORK_SCAN_MAX_ADDRESSES', 65_536, 1, 16_777_216),
    allowLoopback: bool(env, 'CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK', false),
    blockRfc1918: bool(env, 'CERTCTL_BLOCK_RFC1918_OUTBOUND', false),
    concurrency: int(env, 'CERTCTL_NETWORK_SCAN_CONCURRENCY', 2_048, 1, 65_536),
    handshakeConcurrency: int(env, 'CERTCTL_NETWORK_SCAN_HANDSHAKE_CONCURRENCY', 128, 1, 65_536),
    shardConcurrency: int(env, 'CERTCTL_NETWORK_SCAN_SHARD_CONCURRENCY', 4, 1, 64),
    shardSize: int(env, 'CERTCTL_NETWORK_SCAN_SHARD_SIZE', 256, 1, 65_536),
    rateLimitPerSecond: int(env, 'CERTCTL_NETWORK_SCAN_RATE_LIMIT', 5_000, 1, 1_000_000),
    dueCheckIntervalMs: duration(env, 'CERTCTL_NETWORK_SCAN_DUE_CHECK_INTERVAL', 60_000),
  };
}

// ---- Endpoint health checks (scanner) ----

export interface HealthCheckConfig {
  /** The scanner probes due checks (certctl's flag; on here by default: nothing is probed until a check exists). */
  enabled: boolean;
  /** How often the scanner claims the checks that are due (one tick across replicas). */
  tickIntervalMs: number;
  /** Defaults of a new check. */
  defaultIntervalSeconds: number;
  defaultTimeoutMs: number;
  /** The range a check's own check_interval_seconds must lie in (400 outside). */
  minIntervalSeconds: number;
  maxIntervalSeconds: number;
  /** TLS handshakes in flight per scanner process. */
  maxConcurrent: number;
  /** A verified deployment creates a check of its verify endpoint (certctl parses this flag and ignores it). */
  autoCreate: boolean;
  /** Probe history older than this is purged. */
  historyRetentionMs: number;
}

export function loadHealthCheckConfig(env: Env): HealthCheckConfig {
  const minIntervalSeconds = int(env, 'CERTCTL_HEALTH_CHECK_MIN_INTERVAL', 30, 1, 86_400);
  const maxIntervalSeconds = int(env, 'CERTCTL_HEALTH_CHECK_MAX_INTERVAL', 86_400, 1, 604_800);
  if (minIntervalSeconds > maxIntervalSeconds) {
    throw new ConfigError('CERTCTL_HEALTH_CHECK_MIN_INTERVAL', `must not exceed CERTCTL_HEALTH_CHECK_MAX_INTERVAL (${maxIntervalSeconds})`);
  }
  const defaultIntervalSeconds = int(env, 'CERTCTL_HEALTH_CHECK_DEFAULT_INTERVAL', 300, 1, 604_800);
  if (defaultIntervalSeconds < minIntervalSeconds || defaultIntervalSeconds > maxIntervalSeconds) {
    throw new ConfigError('CERTCTL_HEALTH_CHECK_DEFAULT_INTERVAL', `must lie between ${minIntervalSeconds} and ${maxIntervalSeconds} seconds`);
  }
  return {
    enabled: bool(env, 'CERTCTL_HEALTH_CHECK_ENABLED', true),
    tickIntervalMs: duration(env, 'CERTCTL_HEALTH_CHECK_INTERVAL', 5_000),
    defaultIntervalSeconds,
    defaultTimeoutMs: int(env, 'CERTCTL_HEALTH_CHECK_DEFAULT_TIMEOUT', 5_000, 50, 60_000),
    minIntervalSeconds,
    maxIntervalSeconds,
    maxConcurrent: int(env, 'CERTCTL_HEALTH_CHECK_MAX_CONCURRENT', 20, 1, 10_000),
    autoCreate: bool(env, 'CERTCTL_HEALTH_CHECK_AUTO_CREATE', true),
    historyRetentionMs: duration(env, 'CERTCTL_HEALTH_CHECK_HISTORY_RETENTION', 720 * 3_600_000),
  };
}

// ---- Revocation (CRL, OCSP responder) ----

export interface RevocationConfig {
  /** Public origin of /.well-known/pki; Local CA leaves get a CRL Distribution Point and an AIA OCSP URL under it. */
  pkiBaseUrl: string | undefined;
  /** How often the schedule rebuilds every Local CA's CRL (CERTCTL_CRL_GENERATION_INTERVAL). */
  crlGenerationIntervalMs: number;
  /** A CRL's nextUpdate is this far after its thisUpdate. */
  crlValidityMs: number;
  /** OCSP requests per client address per minute before answers turn `unauthorized`; 0 turns the limit off. */
  ocspRateLimitPerMinute: number;
  /** Lifetime of a pre-signed OCSP answer (its nextUpdate and its cache time). */
  ocspResponseValidityMs: number;
  /** Lifetime of a delegated OCSP responder certificate, and how long before its end it is replaced. */
  ocspResponderValidityMs: number;
  ocspResponderRotationGraceMs: number;
  /** Largest OCSP request body accepted (413 above). */
  ocspMaxRequestBytes: number;
  /** Port of apps/responder (CERTCTL_RESPONDER_PORT). */
  responderPort: number;
  /** Most CertIDs one OCSP request may ask about (CERTCTL_OCSP_MAX_CERTIDS); more is `malformedRequest`. */
  ocspMaxCertIds: number;
  /** How often expired rows of ocsp_response_cache are deleted (CERTCTL_OCSP_CACHE_CLEANUP_INTERVAL). */
  ocspCacheCleanupIntervalMs: number;
  /** CRL requests (and unknown-issuer lookups) per client per minute before 429; 0 turns the limit off. */
  crlRateLimitPerMinute: number;
  /** HTTP server limits of the apps serving the public routes (api, responder): headers, whole request, an OCSP body. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Open connections one client (IPv4 address, IPv6 /64) may hold to apps/responder; 0 turns the cap off. */
  responderMaxConnectionsPerClient: number;
}

export function loadRevocationConfig(env: Env): RevocationConfig {
  const base = optional(env, 'CERTCTL_PKI_BASE_URL');
  if (base !== undefined) url(env, 'CERTCTL_PKI_BASE_URL', base, ['http:', 'https:']);
  const responderValidityMs = duration(env, 'CERTCTL_OCSP_RESPONDER_VALIDITY', 30 * 86_400_000);
  const graceMs = duration(env, 'CERTCTL_OCSP_RESPONDER_ROTATION_GRACE', 7 * 86_400_000);
  if (graceMs >= responderValidityMs) throw new ConfigError('CERTCTL_OCSP_RESPONDER_ROTATION_GRACE', 'must be shorter than CERTCTL_OCSP_RESPONDER_VALIDITY');
  const headersTimeoutMs = duration(env, 'CERTCTL_HTTP_HEADERS_TIMEOUT', 10_000);
  const requestTimeoutMs = duration(env, 'CERTCTL_HTTP_REQUEST_TIMEOUT', 60_000);
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('CERTCTL_HTTP_HEADERS_TIMEOUT', 'must not exceed CERTCTL_HTTP_REQUEST_TIMEOUT');
  return {
    pkiBaseUrl: base?.replace(/\/+$/, ''),
    crlGenerationIntervalMs: duration(env, 'CERTCTL_CRL_GENERATION_INTERVAL', 3_600_000),
    crlValidityMs: duration(env, 'CERTCTL_CRL_VALIDITY', 24 * 3_600_000),
    ocspRateLimitPerMinute: int(env, 'CERTCTL_OCSP_RATE_LIMIT_PER_IP_MIN', 1000, 0, 100_000_000),
    ocspResponseValidityMs: duration(env, 'CERTCTL_OCSP_RESPONSE_VALIDITY', 3_600_000),
    ocspResponderValidityMs: responderValidityMs,
    ocspResponderRotationGraceMs: graceMs,
    ocspMaxRequestBytes: int(env, 'CERTCTL_OCSP_MAX_REQUEST_BYTES', 8192, 256, 1_048_576),
    responderPort: int(env, 'CERTCTL_RESPONDER_PORT', 8084, 0, 65535),
    ocspMaxCertIds: int(env, 'CERTCTL_OCSP_MAX_CERTIDS', 10, 1, 1000),
    ocspCacheCleanupIntervalMs: duration(env, 'CERTCTL_OCSP_CACHE_CLEANUP_INTERVAL', 10 * 60_000),
    crlRateLimitPerMinute: int(env, 'CERTCTL_CRL_RATE_LIMIT_PER_IP_MIN', 120, 0, 100_000_000),
    headersTimeoutMs,
    requestTimeoutMs,
    bodyTimeoutMs: duration(env, 'CERTCTL_OCSP_BODY_TIMEOUT', 5_000),
    responderMaxConnectionsPerClient: int(env, 'CERTCTL_RESPONDER_MAX_CONNECTIONS_PER_CLIENT', 32, 0, 100_000),
  };
}

// ---- ACME server (RFC 8555 on our CAs, served by apps/responder) ----

export interface AcmeServerConfig {
  /** CERTCTL_ACME_SERVER_ENABLED: the /acme routes answer; off, they are 404. */
  enabled: boolean;
  /** The certificate profile served by the un-prefixed /acme/… routes; unset, only /acme/profile/{id}/… exist. */
  defaultProfileId: string | undefined;
  /** Public origin the URLs in answers (and the JWS `url` checks) are built on; unset, taken from each request. */
  baseUrl: string | undefined;
  /** A nonce is good once, for this long. */
  nonceTtlMs: number;
  /**
   * Keys that sign nonces (HMAC), shared by every replica: the first signs, all verify (rotation: put the new key
   * first, drop the old one after a nonce lifetime). Empty: derived from CERTCTL_CONFIG_ENCRYPTION_KEY.
   */
  nonceKeys: string[];
  /** Requests without an account (directory, new-nonce, renewal-info, and JWS signed by a `jwk`: new-account, revoke by certificate key) one client address may make per minute (0: no limit). */
  publicRequestsPerIpPerMinute: number;
  /** Lifetime of a pending order and its authorizations. */
  orderTtlMs: number;
  /** Largest JWS body accepted (413 problem above). */
  maxBodyBytes: number;
  /** Seconds an ACME client is told to wait (Retry-After) while an order is processing. */
  retryAfterSeconds: number;
  /** New orders one account may place per hour, and new accounts one client address may create per hour (0: no limit). */
  ordersPerAccountPerHour: number;
  accountsPerIpPerHour: number;
  /** Where validation connects to for http-01 and tls-alpn-01 (80 and 443 in production; loopback ports in tests). */
  http01Port: number;
  tlsAlpn01Port: number;
  /** DNS server (host:port) dns-01 and CAA lookups ask; unset, the system resolver. */
  dnsResolver: string | undefined;
  /** Validations one orchestrator replica runs at once, and attempts before a challenge is invalid. */
  validationConcurrency: number;
  validationAttempts: number;
  /** meta.caaIdentities of the directory (RFC 8659 issuer domain names that designate this CA). */
  caaIdentities: string[];
  /** Owner (and, through it, team) of certificates ordered by accounts without an EAB binding; unset, such accounts cannot finalize. */
  defaultOwnerId: string | undefined;
  /** `explanationURL` of an ARI answer whose window a re-issue drill opened early; unset, none is given. */
  renewEarlyExplanationUrl: string | undefined;
}

export function loadAcmeServerConfig(env: Env): AcmeServerConfig {
  const base = optional(env, 'CERTCTL_ACME_SERVER_BASE_URL');
  if (base !== undefined) url(env, 'CERTCTL_ACME_SERVER_BASE_URL', base, ['http:', 'https:']);
  const explanation = optional(env, 'CERTCTL_ACME_SERVER_RENEW_EARLY_EXPLANATION_URL');
  if (explanation !== undefined) url(env, 'CERTCTL_ACME_SERVER_RENEW_EARLY_EXPLANATION_URL', explanation, ['http:', 'https:']);
  const nonceKeys = list(env, 'CERTCTL_ACME_SERVER_NONCE_KEYS');
  if (nonceKeys.some((k) => Buffer.byteLength(k) < 32)) throw new ConfigError('CERTCTL_ACME_SERVER_NONCE_KEYS', 'each key must be at least 32 bytes');
  return {
    enabled: bool(env, 'CERTCTL_ACME_SERVER_ENABLED', false),
    defaultProfileId: optional(env, 'CERTCTL_ACME_SERVER_DEFAULT_PROFILE_ID'),
    baseUrl: base?.replace(/\/+$/, ''),
    nonceTtlMs: duration(env, 'CERTCTL_ACME_SERVER_NONCE_TTL', 5 * 60_000),
    nonceKeys,
    publicRequestsPerIpPerMinute: int(env, 'CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN', 1200, 0, 100_000_000),
    orderTtlMs: duration(env, 'CERTCTL_ACME_SERVER_ORDER_TTL', 24 * 3_600_000),
    maxBodyBytes: int(env, 'CERTCTL_ACME_SERVER_MAX_BODY_BYTES', 65_536, 1024, 10_485_760),
    retryAfterSeconds: int(env, 'CERTCTL_ACME_SERVER_RETRY_AFTER_SECONDS', 1, 1, 3600),
    ordersPerAccountPerHour: int(env, 'CERTCTL_ACME_SERVER_ORDERS_PER_ACCOUNT_HOUR', 300, 0, 10_000_000),
    accountsPerIpPerHour: int(env, 'CERTCTL_ACME_SERVER_ACCOUNTS_PER_IP_HOUR', 100, 0, 10_000_000),
    http01Port: int(env, 'CERTCTL_ACME_SERVER_HTTP01_PORT', 80, 1, 65535),
    tlsAlpn01Port: int(env, 'CERTCTL_ACME_SERVER_TLSALPN01_PORT', 443, 1, 65535),
    dnsResolver: optional(env, 'CERTCTL_ACME_SERVER_DNS_RESOLVER'),
    validationConcurrency: int(env, 'CERTCTL_ACME_SERVER_VALIDATION_CONCURRENCY', 10, 1, 500),
    validationAttempts: int(env, 'CERTCTL_ACME_SERVER_VALIDATION_ATTEMPTS', 3, 1, 20),
    caaIdentities: list(env, 'CERTCTL_ACME_SERVER_CAA_IDENTITIES'),
    defaultOwnerId: optional(env, 'CERTCTL_ACME_SERVER_DEFAULT_OWNER_ID'),
    renewEarlyExplanationUrl: explanation,
  };
}
