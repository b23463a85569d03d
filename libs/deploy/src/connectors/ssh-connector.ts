import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Client, ConnectConfig, SFTPWrapper } from 'ssh2';
import { splitCommand } from '../command';
import {
  messageOf, PlanInvalidError, PostVerifyFailedError, ReloadFailedError, RollbackFailedError, TargetConfigError, TransportError, ValidateFailedError,
} from '../errors';
import { lockAll } from '../locks';
import { keyMismatch, leafFingerprint, VerificationMismatch, verifyServedCertificate } from '../verify';
import { resolveOutboundAddress } from '../../../config/src/outbound-connect';
import { OutboundUrlError } from '../../../config/src/outbound-url';
import {
  Config, optionalCommand, optionalDuration, optionalInteger, optionalMode, optionalPath, optionalString, PostVerifyConfig, postVerify,
  outboundHost, requiredPath, requiredString,
} from './config-fields';
import type { ConnectorContext, DeployMaterial, DeployOutcome, TargetConnector } from './types';

interface SshTarget {
  host: string;
  port: number;
  user: string;
  auth: { privateKey: string | Buffer; passphrase?: string } | { password: string } | { privateKeyPath: string; passphrase?: string };
  hostKeyFingerprint: string;
  files: Array<{ path: string; content: 'fullchain' | 'leaf' | 'chain' | 'key'; mode: number }>;
  validateCommand?: string;
  reloadCommand?: string;
  timeoutMs: number;
  verify?: PostVerifyConfig;
}

interface RemoteFile {
  path: string;
  bytes: Buffer;
  mode: number;
  before: { bytes: Buffer; mode: number } | null;
}

/**
 * ssh2 is loaded by the first SSH deploy, not with the connector registry: at load it reserves 16 MiB for its
 * Poly1305 WebAssembly, and every app that validates target configs (the api) links this file.
 */
let ssh2Library: typeof import('ssh2') | undefined;
const ssh2 = () => (ssh2Library ??= require('ssh2') as typeof import('ssh2'));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** OpenSSH's form: "SHA256:" + unpadded base64 of the SHA-256 of the host key blob (what `ssh-keygen -lf` prints). */
export const sshHostKeyFingerprint = (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

function describe(c: Config): SshTarget {
  const rawHost = requiredString(c, 'host');
  if (!/^[A-Za-z0-9.:_%[\]-]+$/.test(rawHost)) throw new TargetConfigError('host', 'must be a host name or address');
  const host = outboundHost('host', rawHost);
  const method = optionalString(c, 'auth_method') ?? 'key';
  let auth: SshTarget['auth'];
  if (method === 'password') auth = { password: requiredString(c, 'password') };
  else if (method === 'key') {
    const inline = optionalString(c, 'private_key');
    const path = optionalPath(c, 'private_key_path');
    if (!inline && !path) throw new TargetConfigError('private_key_path', 'is required for key authentication (or give private_key)');
    auth = inline ? { privateKey: inline, passphrase: optionalString(c, 'passphrase') } : { privateKeyPath: path!, passphrase: optionalString(c, 'passphrase') };
  } else throw new TargetConfigError('auth_method', 'must be "key" or "password"');
  // Pinning is not optional: an agentless deploy that trusts any host key hands the private key to whoever answers.
  const hostKeyFingerprint = requiredString(c, 'host_key_fingerprint');
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(hostKeyFingerprint)) throw new TargetConfigError('host_key_fingerprint', 'must be an OpenSSH SHA256 fingerprint (ssh-keygen -lf)');
  const certPath = requiredPath(c, 'cert_path');
  const keyPath = optionalPath(c, 'key_path');
  const chainPath = optionalPath(c, 'chain_path');
  const files: SshTarget['files'] = [{ path: certPath, content: chainPath ? 'leaf' : 'fullchain', mode: optionalMode(c, 'cert_mode') ?? 0o644 }];
  if (chainPath) files.push({ path: chainPath, content: 'chain', mode: optionalMode(c, 'cert_mode') ?? 0o644 });
  if (keyPath) files.push({ path: keyPath, content: 'key', mode: optionalMode(c, 'key_mode', true) ?? 0o600 });
  return {
    host, port: optionalInteger(c, 'port', 1, 65535) ?? 22, user: requiredString(c, 'user'), auth, hostKeyFingerprint, files,
    validateCommand: optionalCommand(c, 'validate_command'), reloadCommand: optionalCommand(c, 'reload_command'),
    timeoutMs: optionalDuration(c, 'timeout') ?? 30_000, verify: postVerify(c),
  };
}

/**
 * Agentless deploys over SSH (ssh2): SFTP upload to temp files with their modes, rename into place, remote
 * reload; the remote files are snapshotted first and put back if the reload or the verification fails.
 * The host key is pinned. Commands run through the remote user's shell, so they pass the metacharacter check
 * and every word is single-quoted.
 */
export class SshConnector implements TargetConnector {
  readonly type = 'SSH';

  validateConfig(config: Config): void {
    describe(config);
  }

  async validateOnly(config: Config): Promise<string> {
    const t = describe(config);
    const session = await SshSession.open(t);
    try {
      if (t.validateCommand) await session.exec(t.validateCommand, t.timeoutMs, placeholdersFor(t, t.files.map((f) => f.path)));
      return `connected to ${t.user}@${t.host}:${t.port} (host key pinned)${t.validateCommand ? `; ${t.validateCommand} succeeded` : ''}`;
    } finally {
      session.close();
    }
  }

  async deploy(config: Config, m: DeployMaterial, ctx: ConnectorContext): Promise<DeployOutcome> {
    const t = describe(config);
    const started = performance.now();
    const contents = t.files.map((f) => Buffer.from(contentOf(f.content, m, f.path)));
    const names = t.files.map((f) => `ssh:${t.host}:${t.port}:${f.path}`);
    const releaseLocal = await lockAll(names);
    const releaseRemote = ctx.crossProcessLock ? await ctx.crossProcessLock(names) : undefined;
    let session: SshSession | undefined;
    try {
      session = await SshSession.open(t);
      const files: RemoteFile[] = [];
      for (const [i, f] of t.files.entries()) files.push({ path: f.path, bytes: contents[i]!, mode: f.mode, before: await session.snapshot(f.path) });
      const outcome = { skippedAsIdempotent: false, backupPaths: [] as string[], validateOk: false, reloaded: false, durationMs: 0 };
      if (!ctx.force && files.every((f) => f.before && sha256(f.before.bytes) === sha256(f.bytes))) {
        return { ...outcome, skippedAsIdempotent: true, durationMs: performance.now() - started, verification: { status: 'skipped', fingerprint: null, verifiedAt: null, note: 'content unchanged' } };
      }
      if (m.keyPem) {
        const problem = keyMismatch(m.certPem, m.keyPem);
        if (problem) throw new ValidateFailedError(problem);
      }
      const temps = await session.uploadTemps(files);
      if (t.validateCommand) {
        try {
          await session.exec(t.validateCommand, t.timeoutMs, placeholdersFor(t, temps));
        } catch (err) {
          await session.removeAll(temps);
          throw new ValidateFailedError(messageOf(err));
        }
      }
      outcome.validateOk = true;
      try {
        await ctx.fence?.(); // still the deploy lock's holder? (a lost lease writes nothing)
      } catch (err) {
        await session.removeAll(temps);
        throw err;
      }
      await session.renameAll(temps, files.map((f) => f.path));

      const rollBack = async (stage: 'reload' | 'post_verify', cause: unknown): Promise<never> => {
        try {
          await session!.restore(files);
          if (t.reloadCommand) await session!.exec(t.reloadCommand, t.timeoutMs, {});
        } catch (rollbackErr) {
          throw new RollbackFailedError(stage, messageOf(cause), messageOf(rollbackErr), []);
        }
        if (stage === 'reload') throw new ReloadFailedError(messageOf(cause), []);
        throw new PostVerifyFailedError(messageOf(cause), [], (cause as VerificationMismatch).servedFingerprint ?? null);
      };
      if (t.reloadCommand) {
        await ctx.fence?.();
        try {
          await session.exec(t.reloadCommand, t.timeoutMs, {});
        } catch (err) {
          return await rollBack('reload', err);
        }
        outcome.reloaded = true;
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
      return { ...outcome, verification, durationMs: performance.now() - started };
    } finally {
      session?.close();
      try {
        await releaseRemote?.();
      } finally {
        releaseLocal();
      }
    }
  }
}

/** {cert_path}, {chain_path}, {key_path} → the given paths (the temp files while validating, the live ones in a dry run). */
function placeholdersFor(t: SshTarget, paths: string[]): Record<string, string> {
  return Object.fromEntries(t.files.map((f, i) => [`${f.content === 'key' ? 'key' : f.content === 'chain' ? 'chain' : 'cert'}_path`, paths[i]!]));
}

function contentOf(kind: SshTarget['files'][number]['content'], m: DeployMaterial, path: string): string {
  const nl = (s: string) => (s && !s.endsWith('\n') ? `${s}\n` : s);
  if (kind === 'key') {
    if (!m.keyPem) throw new PlanInvalidError('no private key is available here for this certificate (it was generated on an agent)');
    return nl(m.keyPem);
  }
  if (kind === 'chain') {
    if (!m.chainPem.trim()) throw new PlanInvalidError(`the certificate has no chain to write to ${path}`);
    return nl(m.chainPem);
  }
  return kind === 'leaf' ? nl(m.certPem) : nl(m.certPem) + nl(m.chainPem);
}

/** One SSH connection with its SFTP channel. Every failure is a TransportError unless it is a command's own. */
class SshSession {
  private constructor(private readonly client: Client, private readonly sftp: SFTPWrapper) {}

  static async open(t: SshTarget): Promise<SshSession> {
    // Dial the address checked against the outbound policy, not a name DNS may answer differently for ssh2.
    const { address } = await resolveOutboundAddress(t.host).catch((err: unknown) => {
      if (err instanceof OutboundUrlError) throw new TargetConfigError('host', `refused by the outbound policy: ${err.message}`);
      throw new TransportError(`ssh ${t.user}@${t.host}:${t.port}: ${messageOf(err)}`);
    });
    const client = new (ssh2().Client)();
    const connect: ConnectConfig = {
      host: address, port: t.port, username: t.user, readyTimeout: t.timeoutMs,
      hostVerifier: (key: Buffer) => sshHostKeyFingerprint(key) === t.hostKeyFingerprint,
    };
    if ('password' in t.auth) connect.password = t.auth.password;
    else if ('privateKey' in t.auth) Object.assign(connect, { privateKey: t.auth.privateKey, passphrase: t.auth.passphrase });
    else {
      const privateKey = await readFile(t.auth.privateKeyPath).catch((err: unknown) => {
        throw new TransportError(`cannot read private_key_path: ${messageOf(err)}`);
      });
      Object.assign(connect, { privateKey, passphrase: t.auth.passphrase });
    }
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', (err) => reject(new TransportError(`ssh ${t.user}@${t.host}:${t.port}: ${err.message}${/verification failed/i.test(err.message) ? ' (host key does not match host_key_fingerprint)' : ''}`)));
      client.connect(connect);
    });
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(new TransportError(`sftp: ${err.message}`)) : resolve(s))));
    return new SshSession(client, sftp);
  }

  close(): void {
    this.client.end();
  }

  async snapshot(path: string): Promise<RemoteFile['before']> {
    const stats = await new Promise<{ mode: number } | null>((resolve, reject) =>
      this.sftp.stat(path, (err, s) => (err ? ((err as { code?: number }).code === 2 ? resolve(null) : reject(new TransportError(`stat ${path}: ${err.message}`))) : resolve(s))));
    if (!stats) return null;
    const bytes = await new Promise<Buffer>((resolve, reject) =>
      this.sftp.readFile(path, (err, b) => (err ? reject(new TransportError(`read ${path}: ${err.message}`)) : resolve(b))));
    return { bytes, mode: stats.mode & 0o7777 };
  }

  private write(path: string, bytes: Buffer, mode: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.sftp.writeFile(path, bytes, { mode }, (err) => {
        if (err) return reject(new TransportError(`write ${path}: ${err.message}`));
        // writeFile's mode applies only to a new file and is masked by the server's umask: set it explicitly.
        this.sftp.chmod(path, mode, (e) => (e ? reject(new TransportError(`chmod ${path}: ${e.message}`)) : resolve()));
      }));
  }

  private rename(from: string, to: string): Promise<void> {
    // OpenSSH's posix-rename replaces the destination atomically; plain SFTP rename refuses an existing one.
    return new Promise((resolve, reject) =>
      this.sftp.ext_openssh_rename(from, to, (err) => (err ? reject(new TransportError(`rename ${from}: ${err.message}`)) : resolve())));
  }

  private remove(path: string): Promise<void> {
    return new Promise((resolve) => this.sftp.unlink(path, () => resolve()));
  }

  async uploadTemps(files: RemoteFile[]): Promise<string[]> {
    const stamp = `${Date.now()}${process.pid}`;
    const temps = files.map((f) => posix.join(posix.dirname(f.path), `${posix.basename(f.path)}.certctl-tmp.${stamp}`));
    try {
      for (const [i, f] of files.entries()) await this.write(temps[i]!, f.bytes, f.mode);
    } catch (err) {
      await this.removeAll(temps);
      throw err;
    }
    return temps;
  }

  async renameAll(temps: string[], finals: string[]): Promise<void> {
    for (const [i, temp] of temps.entries()) await this.rename(temp, finals[i]!);
  }

  async removeAll(paths: string[]): Promise<void> {
    for (const p of paths) await this.remove(p);
  }

  /** Puts the snapshot back (through temp + rename) and removes files that did not exist before. */
  async restore(files: RemoteFile[]): Promise<void> {
    for (const f of files) {
      if (!f.before) {
        await this.remove(f.path);
        continue;
      }
      const [temp] = await this.uploadTemps([{ ...f, bytes: f.before.bytes, mode: f.before.mode }]);
      await this.rename(temp!, f.path);
    }
  }

  /** Runs a config command on the host: metacharacters were refused at config time, and each word is quoted. */
  exec(command: string, timeoutMs: number, placeholders: Record<string, string>): Promise<void> {
    const line = splitCommand(command).map((w) => quote(w.replace(/\{(\w+)\}/g, (all, n: string) => placeholders[n] ?? all))).join(' ');
    return new Promise((resolve, reject) => {
      this.client.exec(line, (err, stream) => {
        if (err) return reject(new TransportError(`exec: ${err.message}`));
        const timer = setTimeout(() => {
          stream.close();
          reject(new Error(`${command}: timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        // The output is read and dropped: a failure is reported by its exit status only (answers, job rows and the
        // audit trail never carry what a command printed).
        stream.on('data', () => undefined);
        stream.stderr.on('data', () => undefined);
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          if (code === 0) resolve();
          else reject(new Error(`${splitCommand(command)[0]}: exited with status ${code}`));
        });
      });
    });
  }
}
