import { request as httpRequest, IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  messageOf, PlanInvalidError, PostVerifyFailedError, ReloadFailedError, RollbackFailedError, TargetConfigError, TransportError, ValidateFailedError,
} from '../errors';
import { lockAll } from '../locks';
import { leafFingerprint, VerificationMismatch, verifyServedCertificate } from '../verify';
import { Config, optionalDuration, optionalString, PostVerifyConfig, postVerify } from './config-fields';
import { caddyConnector as caddyFileConnector } from './file-connector';
import type { ConnectorContext, DeployMaterial, DeployOutcome, TargetConnector } from './types';

/** Where Caddy's admin API listens: a URL, or a unix socket in Caddy's own `unix//path` notation. */
type AdminEndpoint = { kind: 'url'; url: URL; label: string } | { kind: 'unix'; socketPath: string; label: string };

interface CaddyApiTarget {
  admin: AdminEndpoint;
  /** An extra tag on the loaded certificate, for a connection policy's `certificate_selection.any_tag`. */
  tag?: string;
  timeoutMs: number;
  verify?: PostVerifyConfig;
}

/** One entry of Caddy's `apps.tls.certificates.load_pem`. */
interface PemPair {
  certificate?: string;
  key?: string;
  tags?: string[];
}

/** GET /config/: the exact bytes (re-applied verbatim on rollback), the parsed form and Caddy's ETag (sent as a trailer). */
interface ConfigSnapshot {
  raw: string;
  parsed: unknown;
  etag?: string;
}

const DEFAULT_ADMIN_API = 'http://localhost:2019';
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/**
 * `admin_api` (certctl's default http://localhost:2019): http(s) to a host, or `unix//absolute/path.sock`. The
 * admin API has no authentication of its own, so it should listen on loopback or a unix socket; credentials in the
 * URL are refused because this field is not stored encrypted.
 */
function adminEndpoint(config: Config): AdminEndpoint {
  const raw = optionalString(config, 'admin_api') ?? DEFAULT_ADMIN_API;
  // Checked on the raw text: URL parsing would silently resolve "..".
  if (raw.split(/[\\/?#]/).some((part) => part === '..' || /^(\.|%2e){2}$/i.test(part))) throw new TargetConfigError('admin_api', 'must not contain ".."');
  if (/[\0-\x1f\x7f\s]/.test(raw)) throw new TargetConfigError('admin_api', 'must not contain spaces or control characters');
  if (raw.startsWith('unix/')) {
    const socketPath = raw.slice('unix/'.length);
    if (!socketPath.startsWith('/')) throw new TargetConfigError('admin_api', 'a unix socket must be written unix//absolute/path');
    return { kind: 'unix', socketPath, label: raw };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetConfigError('admin_api', 'must be an http(s) URL such as http://127.0.0.1:2019 or a unix socket unix//run/caddy/admin.sock');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TargetConfigError('admin_api', 'must use http or https (or unix//path)');
  if (!url.hostname) throw new TargetConfigError('admin_api', 'must name a host');
  if (url.username || url.password) throw new TargetConfigError('admin_api', 'must not carry credentials');
  if (url.search || url.hash) throw new TargetConfigError('admin_api', 'must not have a query or fragment');
  return { kind: 'url', url, label: `${url.protocol}//${url.host}${url.pathname.replace(/\/$/, '')}` };
}

function describe(config: Config): CaddyApiTarget {
  const admin = adminEndpoint(config);
  const tag = optionalString(config, 'tag');
  if (tag !== undefined && !/^[A-Za-z0-9_.:-]{1,64}$/.test(tag)) throw new TargetConfigError('tag', 'must be 1-64 letters, digits, "_", ".", ":" or "-"');
  return { admin, tag, timeoutMs: optionalDuration(config, 'timeout') ?? 30_000, verify: postVerify(config) };
}

/** Connection failures that happen before a request is sent: nothing can have changed in Caddy. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTSOCK']);

class AdminUnreachable extends Error {
  constructor(message: string, readonly requestSent: boolean) {
    super(message);
  }
}

interface AdminResponse {
  status: number;
  body: string;
  etag?: string;
}

/**
 * One request to the admin API with node:http (no shell, no curl). node:http rather than fetch because Caddy 2.6
 * sends the config's ETag as an HTTP trailer and listens on unix sockets, and Node's built-in fetch reaches neither.
 */
function adminRequest(t: CaddyApiTarget, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<AdminResponse> {
  const a = t.admin;
  const requestHeaders: Record<string, string> = { ...headers };
  // A fresh connection each time (agent: false): Caddy restarts its admin server on every config change, so a
  // kept-alive socket can be dead, and a write to it would look like a change whose outcome is unknown.
  const options: RequestOptions = { method, timeout: t.timeoutMs, headers: requestHeaders, agent: false };
  let send = httpRequest;
  if (a.kind === 'unix') {
    // Caddy accepts only an empty Host on a unix socket listener.
    Object.assign(options, { socketPath: a.socketPath, path, setHost: false });
    requestHeaders.Host = '';
  } else {
    const base = a.url.pathname.replace(/\/$/, '');
    Object.assign(options, { host: a.url.hostname.replace(/^\[|\]$/g, ''), port: a.url.port || undefined, path: `${base}${path}` });
    if (a.url.protocol === 'https:') send = httpsRequest;
  }
  if (body !== undefined) Object.assign(requestHeaders, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  return new Promise((resolve, reject) => {
    let sent = false;
    const req = send(options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        const etag = res.trailers.etag ?? (res.headers.etag as string | undefined);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), etag });
      });
      res.on('error', (err) => reject(new AdminUnreachable(`${method} ${a.label}${path}: ${err.message}`, sent)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${t.timeoutMs} ms`)));
    req.on('finish', () => (sent = true));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(new AdminUnreachable(`${method} ${a.label}${path}: ${err.message}`, sent && !NOT_SENT.has(err.code ?? '')));
    });
    req.end(body);
  });
}

/** Caddy answers errors as {"error": "..."}; the message never echoes a submitted key. */
function caddyError(res: AdminResponse): string {
  try {
    const parsed = JSON.parse(res.body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error.slice(0, 1000);
  } catch {
    // not JSON
  }
  return `HTTP ${res.status}${res.body.trim() ? `: ${res.body.trim().slice(0, 300)}` : ''}`;
}

async function readConfig(t: CaddyApiTarget): Promise<ConfigSnapshot> {
  let res: AdminResponse;
  try {
    res = await adminRequest(t, 'GET', '/config/');
  } catch (err) {
    throw new TransportError(`Caddy admin API unreachable: ${messageOf(err)}`);
  }
  if (res.status !== 200) throw new TransportError(`GET ${t.admin.label}/config/: ${caddyError(res)}`);
  try {
    return { raw: res.body, parsed: JSON.parse(res.body), etag: res.etag };
  } catch {
    throw new TransportError(`GET ${t.admin.label}/config/ did not answer JSON`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The smallest change that makes `apps.tls.certificates.load_pem` equal `loadPem`: PATCH the array when it exists,
 * otherwise POST the missing part under the deepest object that exists (POST on an object key sets it); an empty
 * Caddy (config `null`) gets it at the root.
 */
export function caddyConfigChange(config: unknown, loadPem: unknown[]): { method: 'PATCH' | 'POST'; path: string; body: unknown } {
  const keys = ['apps', 'tls', 'certificates', 'load_pem'];
  if (config === null) return { method: 'POST', path: '/config/', body: keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), loadPem) };
  let node: unknown = config;
  let depth = 0;
  while (depth < keys.length && isObject(node) && node[keys[depth]!] !== undefined && node[keys[depth]!] !== null) {
    node = node[keys[depth]!];
    depth++;
  }
  if (!isObject(node) && depth < keys.length) throw new ValidateFailedError(`Caddy's config has a non-object at ${['config', ...keys.slice(0, depth)].join('.')}`);
  if (depth === keys.length) return { method: 'PATCH', path: `/config/${keys.join('/')}`, body: loadPem };
  const body = keys.slice(depth + 1).reduceRight<unknown>((inner, key) => ({ [key]: inner }), loadPem);
  return { method: 'POST', path: `/config/${keys.slice(0, depth + 1).join('/')}`, body };
}

function loadedPairs(config: unknown): PemPair[] {
  const list = isObject(config) && isObject(config.apps) && isObject(config.apps.tls) && isObject(config.apps.tls.certificates)
    ? config.apps.tls.certificates.load_pem : undefined;
  return Array.isArray(list) ? (list as PemPair[]) : [];
}

/** The tag that marks the entry certctl manages for one certificate, so deploys of other certificates leave it alone. */
const ownTag = (m: DeployMaterial) => `certctl:${m.certificateId ?? 'certificate'}`;

/**
 * Caddy in admin-API mode: the certificate and key go into the running config's `apps.tls.certificates.load_pem`
 * (one entry per certificate, tagged `certctl:<certificate id>`), and Caddy serves it by SNI (or through a
 * connection policy selecting `tag`). Caddy provisions every new config before switching to it, so a config it
 * rejects (a key that does not match, a malformed PEM) leaves the old one serving: that rejection is the validate
 * step. The previous config is read first, and written back verbatim if the TLS check afterwards fails or the
 * change's outcome is unknown. Changes carry Caddy's ETag (If-Match), so a concurrent edit is never overwritten.
 */
export class CaddyAdminApiConnector implements TargetConnector {
  readonly type = 'Caddy';

  validateConfig(config: Config): void {
    describe(config);
  }

  async validateOnly(config: Config): Promise<string> {
    const t = describe(config);
    const snapshot = await readConfig(t);
    const pairs = loadedPairs(snapshot.parsed);
    const ours = pairs.filter((p) => p.tags?.some((tag) => tag.startsWith('certctl:'))).length;
    return `Caddy admin API at ${t.admin.label} answers; its config loads ${pairs.length} PEM certificate(s), ${ours} deployed by certctl`;
  }

  async deploy(config: Config, m: DeployMaterial, ctx: ConnectorContext): Promise<DeployOutcome> {
    const t = describe(config);
    const started = performance.now();
    if (!m.keyPem) throw new PlanInvalidError('no private key is available here for this certificate (it was generated on an agent): deploy it through that agent');
    const nl = (s: string) => (s && !s.endsWith('\n') ? `${s}\n` : s);
    const tag = ownTag(m);
    const entry: PemPair = { certificate: nl(m.certPem) + nl(m.chainPem), key: nl(m.keyPem), tags: t.tag ? [tag, t.tag] : [tag] };

    // One change at a time per Caddy instance, in this process and across replicas.
    const names = [`caddy-admin:${t.admin.label}`];
    const releaseLocal = await lockAll(names);
    const releaseRemote = ctx.crossProcessLock ? await ctx.crossProcessLock(names) : undefined;
    try {
      const before = await readConfig(t);
      const pairs = loadedPairs(before.parsed);
      const ours = pairs.filter((p) => p.tags?.includes(tag));
      const unchanged = ours.length === 1 && ours[0]!.certificate === entry.certificate && ours[0]!.key === entry.key
        && JSON.stringify(ours[0]!.tags ?? []) === JSON.stringify(entry.tags);
      if (unchanged && !ctx.force) {
        return {
          skippedAsIdempotent: true, backupPaths: [], validateOk: false, reloaded: false, durationMs: performance.now() - started,
          verification: { status: 'skipped', fingerprint: null, verifiedAt: null, note: 'content unchanged' },
        };
      }

      const change = caddyConfigChange(before.parsed, [...pairs.filter((p) => !p.tags?.includes(tag)), entry]);
      const rollBack = async (stage: 'reload' | 'post_verify', cause: unknown): Promise<never> => {
        try {
          await this.restore(t, before);
        } catch (rollbackErr) {
          throw new RollbackFailedError(stage, messageOf(cause), messageOf(rollbackErr), []);
        }
        if (stage === 'reload') throw new ReloadFailedError(messageOf(cause), []);
        throw new PostVerifyFailedError(messageOf(cause), [], (cause as VerificationMismatch).servedFingerprint ?? null);
      };

      await ctx.fence?.(); // still the deploy lock's holder? (a lost lease writes nothing)
      let res: AdminResponse;
      try {
        res = await adminRequest(t, change.method, change.path, JSON.stringify(change.body), {
          ...(before.etag ? { 'If-Match': before.etag } : {}),
          // A forced deploy reloads even when Caddy finds the config unchanged.
          ...(ctx.force ? { 'Cache-Control': 'must-revalidate' } : {}),
        });
      } catch (err) {
        // Sent but unanswered: Caddy may or may not have switched, so put the previous config back.
        if (err instanceof AdminUnreachable && err.requestSent) return await rollBack('reload', err);
        throw new TransportError(`Caddy admin API unreachable: ${messageOf(err)}`);
      }
      if (res.status === 412) throw new TransportError(`Caddy's config changed while deploying (If-Match failed); will retry`);
      if (res.status < 200 || res.status > 299) {
        const message = caddyError(res);
        // "loading new config: ..." (500) or a malformed change (400): Caddy refused it and still runs the old config.
        if (res.status === 400 || message.startsWith('loading new config')) throw new ValidateFailedError(`Caddy rejected the new config: ${message}`);
        throw new TransportError(`${change.method} ${t.admin.label}${change.path}: ${message}`);
      }

      let verification: DeployOutcome['verification'] = { status: 'skipped', fingerprint: null, verifiedAt: null, note: 'no post_deploy_verify endpoint configured' };
      if (t.verify) {
        try {
          const fingerprint = await verifyServedCertificate({ ...t.verify, expectedFingerprint: leafFingerprint(m.certPem) });
          verification = { status: 'success', fingerprint, verifiedAt: new Date() };
        } catch (err) {
          return await rollBack('post_verify', err);
        }
      }
      return { skippedAsIdempotent: false, backupPaths: [], validateOk: true, reloaded: true, verification, durationMs: performance.now() - started };
    } finally {
      try {
        await releaseRemote?.();
      } finally {
        releaseLocal();
      }
    }
  }

  /** Re-applies the config read before the change, byte for byte (must-revalidate: reload even if Caddy thinks it is current). */
  private async restore(t: CaddyApiTarget, before: ConfigSnapshot): Promise<void> {
    const res = await adminRequest(t, 'POST', '/load', before.raw, { 'Cache-Control': 'must-revalidate' });
    if (res.status < 200 || res.status > 299) throw new Error(`POST ${t.admin.label}/load: ${caddyError(res)}`);
  }
}

const caddyApi = new CaddyAdminApiConnector();

/** The Caddy target: `mode` "api" (certctl's default: the admin API) or "file" (files in `cert_dir`, see file-connector). */
export class CaddyConnector implements TargetConnector {
  readonly type = 'Caddy';

  private modeOf(config: Config): TargetConnector {
    const mode = optionalString(config, 'mode') ?? 'api';
    if (mode === 'api') return caddyApi;
    if (mode === 'file') return caddyFileConnector;
    throw new TargetConfigError('mode', 'must be "api" or "file"');
  }

  validateConfig(config: Config): void {
    this.modeOf(config).validateConfig(config);
  }

  validateOnly(config: Config, ctx: ConnectorContext): Promise<string> {
    return this.modeOf(config).validateOnly(config, ctx);
  }

  deploy(config: Config, material: DeployMaterial, ctx: ConnectorContext): Promise<DeployOutcome> {
    return this.modeOf(config).deploy(config, material, ctx);
  }
}
