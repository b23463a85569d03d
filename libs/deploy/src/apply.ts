import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, open, readdir, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import {
  DeployError, messageOf, PlanInvalidError, PostVerifyFailedError, ReloadFailedError, RollbackFailedError, ValidateFailedError,
} from './errors';
import { CrossProcessLock, lockAll } from './locks';
import { Principal, resolveGid, resolveUid } from './ownership';
import { ALLOWED_ROOTS_SETTING, deployPolicy, pathUnderRoots } from './policy';

export const DEFAULT_BACKUP_RETENTION = 3;
const BACKUP_MARK = '.certctl-bak.';
const TEMP_MARK = '.certctl-tmp.';

export interface PlanFile {
  path: string;
  content: string | Buffer;
  /** Private keys: mode at most 0640, default 0600. */
  secret?: boolean;
  mode?: number;
  owner?: Principal;
  group?: Principal;
}

export interface Plan {
  files: PlanFile[];
  /** Used for files that do not exist yet when a file names nothing itself. */
  defaults?: { mode?: number; owner?: Principal; group?: Principal };
  /** The validate step: runs against the new files (final path → temp path) before they go live. */
  preCommit?: (tempPaths: ReadonlyMap<string, string>) => Promise<void>;
  /** The reload step, run after the new files are live (and again after a rollback). */
  postCommit?: () => Promise<void>;
  /** Post-deploy check (e.g. a TLS handshake); a failure restores the old files and reloads. */
  verify?: () => Promise<void>;
  /** Backups kept per file after a success; -1 keeps none (and disables rollback). */
  backupRetention?: number;
  /** Deploy even when every destination already holds the same bytes. */
  force?: boolean;
  /** Locks the destinations across processes too (in-process locking is always on). */
  crossProcessLock?: CrossProcessLock;
  /**
   * The fencing check of the deploy lock, asked right before the new files go live and before the reload: throws
   * when this process no longer holds the lock (lease lost, a newer holder), and then nothing more is written.
   */
  fence?: () => Promise<void>;
}

export interface ApplyResult {
  skippedAsIdempotent: boolean;
  backupPaths: string[];
  validateOk: boolean;
  reloaded: boolean;
  verified: boolean;
  durationMs: number;
}

interface Prepared {
  path: string;
  content: Buffer;
  mode: number;
  uid: number | undefined;
  gid: number | undefined;
  existed: boolean;
  backup: string | null;
  temp: string | null;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
// Wall-clock milliseconds and a counter: sorts by time, unique within this process.
let sequence = 0;
const stamp = () => `${Date.now()}${String(sequence++ % 1_000_000).padStart(6, '0')}`;

/**
 * certctl's Apply (spec §5.3): validate the plan, lock every destination, skip when nothing changed, back up,
 * write temp files beside the destinations (fsync), validate them, rename them into place, reload, verify.
 * A failed reload or verification restores every file and reloads again. Each outcome has its own error type.
 */
export async function apply(plan: Plan): Promise<ApplyResult> {
  const started = performance.now();
  const files = checkPlan(plan);
  const paths = files.map((f) => f.path);
  const release = await lockAll(paths);
  let releaseRemote: (() => Promise<void>) | undefined;
  try {
    releaseRemote = plan.crossProcessLock ? await plan.crossProcessLock(paths) : undefined;
    return await applyLocked(plan, files, started);
  } finally {
    try {
      await releaseRemote?.();
    } finally {
      release();
    }
  }
}

function checkPlan(plan: Plan): Array<PlanFile & { content: Buffer }> {
  if (!plan.files.length) throw new PlanInvalidError('a plan needs at least one file');
  const seen = new Set<string>();
  return plan.files.map((f) => {
    if (!f.path || !isAbsolute(f.path)) throw new PlanInvalidError(`path must be absolute: "${f.path}"`);
    if (f.path.split(/[\\/]/).includes('..')) throw new PlanInvalidError(`path must not contain "..": "${f.path}"`);
    const path = normalize(f.path);
    if (seen.has(path)) throw new PlanInvalidError(`duplicate destination: ${path}`);
    seen.add(path);
    const content = Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content);
    if (!content.length) throw new PlanInvalidError(`empty content for ${path}`);
    if (f.secret && f.mode !== undefined && (f.mode & ~0o640) !== 0) {
      throw new PlanInvalidError(`a private key may not be mode ${f.mode.toString(8)} (0600 or 0640 at most): ${path}`);
    }
    return { ...f, path, content };
  });
}

async function applyLocked(plan: Plan, files: Array<PlanFile & { content: Buffer }>, started: number): Promise<ApplyResult> {
  const result: ApplyResult = { skippedAsIdempotent: false, backupPaths: [], validateOk: false, reloaded: false, verified: false, durationMs: 0 };
  const done = () => ({ ...result, durationMs: performance.now() - started });
  await checkDestinations(files);

  const current = await Promise.all(files.map((f) => readCurrent(f.path)));
  const existing = current.map((c) => c?.stat);
  if (!plan.force && allIdentical(files, current)) {
    result.skippedAsIdempotent = true;
    return done();
  }

  const retention = plan.backupRetention ?? DEFAULT_BACKUP_RETENTION;
  const prepared: Prepared[] = files.map((f, i) => resolveAttributes(f, existing[i], plan.defaults));

  // Backups are hard links to the current inode: the rename below replaces the directory entry, the link keeps
  // the old bytes, owner and mode, at no copying cost.
  if (retention >= 0) {
    for (const p of prepared.filter((p) => p.existed)) {
      p.backup = `${p.path}${BACKUP_MARK}${stamp()}`;
      await link(p.path, p.backup);
      result.backupPaths.push(p.backup);
    }
  }

  try {
    for (const p of prepared) p.temp = await writeTemp(p);
  } catch (err) {
    await removeTemps(prepared);
    throw err;
  }

  if (plan.preCommit) {
    try {
      await plan.preCommit(new Map(prepared.map((p) => [p.path, p.temp!])));
    } catch (err) {
      await removeTemps(prepared);
      await removeBackups(prepared);
      // The cause (e.g. a CommandError with the output's tail) is kept for the deploying process's debug log.
      throw err instanceof DeployError ? err : Object.assign(new ValidateFailedError(messageOf(err)), { cause: err });
    }
  }
  result.validateOk = true;

  try {
    await plan.fence?.();
  } catch (err) {
    await removeTemps(prepared);
    await removeBackups(prepared);
    throw err;
  }
  const renamed: Prepared[] = [];
  try {
    for (const p of prepared) {
      await rename(p.temp!, p.path);
      p.temp = null;
      renamed.push(p);
    }
    await Promise.all([...new Set(prepared.map((p) => dirname(p.path)))].map(fsyncDir));
  } catch (err) {
    await restoreFiles(renamed).catch(() => undefined);
    await removeTemps(prepared);
    throw new DeployError('transport', `could not move the new files into place: ${messageOf(err)}`, null, result.backupPaths);
  }

  const rollBack = async (stage: 'reload' | 'post_verify', cause: unknown): Promise<never> => {
    try {
      if (retention < 0) throw new Error('backups are disabled (retention -1): nothing to restore');
      await restoreFiles(prepared);
      await plan.postCommit?.();
    } catch (rollbackErr) {
      throw new RollbackFailedError(stage, messageOf(cause), messageOf(rollbackErr), result.backupPaths);
    }
    if (stage === 'reload') throw Object.assign(new ReloadFailedError(messageOf(cause), result.backupPaths), { cause });
    throw new PostVerifyFailedError(messageOf(cause), result.backupPaths, (cause as { servedFingerprint?: string }).servedFingerprint ?? null);
  };

  if (plan.postCommit) {
    // The files are live; a holder that lost the lock since leaves the reload to the one that has it now.
    await plan.fence?.();
    try {
      await plan.postCommit();
    } catch (err) {
      return rollBack('reload', err);
    }
    result.reloaded = true;
  }
  if (plan.verify) {
    try {
      await plan.verify();
    } catch (err) {
      return rollBack('post_verify', err);
    }
    result.verified = true;
  }
  await pruneBackups(prepared.map((p) => p.path), Math.max(retention, 0));
  if (retention === 0) result.backupPaths = [];
  return done();
}

/**
 * Every destination must still be under an allowed root once links are resolved (the config was checked when it
 * was saved; a link planted since must not lead the write elsewhere): the real path of its directory is checked,
 * and a destination that is itself a symbolic link is refused. Checked with the destinations locked.
 */
async function checkDestinations(files: Array<{ path: string }>): Promise<void> {
  const roots = deployPolicy().allowedRoots;
  const realRoots = await Promise.all(roots.map((root) => realpath(root).catch(() => root)));
  for (const { path } of files) {
    const dir = await realpath(dirname(path)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined; // nothing to write into: the write fails and says so
      throw err;
    });
    if (dir === undefined) continue;
    const resolved = join(dir, basename(path));
    if (!pathUnderRoots(resolved, realRoots) && !pathUnderRoots(resolved, roots)) {
      throw new PlanInvalidError(`${path} resolves to ${resolved}, outside the allowed directories (${ALLOWED_ROOTS_SETTING})`);
    }
    if ((await lstat(path).catch(() => undefined))?.isSymbolicLink()) throw new PlanInvalidError(`${path} is a symbolic link: certctl does not write through links`);
  }
}

/** The idempotent skip: every destination exists and its bytes have the SHA-256 of the new content. */
function allIdentical(files: Array<{ path: string; content: Buffer }>, current: Array<Current | undefined>): boolean {
  return files.every((f, i) => {
    const bytes = current[i]?.content;
    return bytes !== undefined && sha256(bytes) === sha256(f.content);
  });
}

interface Current {
  stat: Awaited<ReturnType<typeof stat>>;
  /** Undefined when the destination is not a regular file or could not be read. */
  content: Buffer | undefined;
}

/**
 * A destination's attributes and bytes through one open file (open, fstat, read, close) rather than a stat
 * and a readFile; undefined when it does not exist.
 */
async function readCurrent(path: string): Promise<Current | undefined> {
  const handle = await open(path, constants.O_RDONLY).catch(() => undefined);
  if (!handle) {
    const found = await stat(path).catch(() => undefined);
    return found && { stat: found, content: undefined };
  }
  try {
    const found = await handle.stat();
    if (!found.isFile()) return { stat: found, content: undefined };
    const content = Buffer.alloc(found.size);
    let offset = 0;
    while (offset < content.length) {
      const { bytesRead } = await handle.read(content, offset, content.length - offset, offset);
      if (!bytesRead) break;
      offset += bytesRead;
    }
    return { stat: found, content: offset === content.length ? content : undefined };
  } finally {
    await handle.close();
  }
}

/** Explicit values first, then the existing file's, then the plan's defaults (0644, keys 0600). */
function resolveAttributes(f: PlanFile & { content: Buffer }, current: Awaited<ReturnType<typeof stat>> | undefined, defaults: Plan['defaults'] = {}): Prepared {
  let mode = f.mode ?? (current ? Number(current.mode) & 0o7777 : undefined) ?? defaults.mode ?? (f.secret ? 0o600 : 0o644);
  // An existing key file that is too open is not a reason to keep it that way.
  if (f.secret && (mode & ~0o640) !== 0) mode = 0o600;
  const owner = f.owner ?? defaults.owner;
  const group = f.group ?? defaults.group;
  return {
    path: f.path, content: f.content, mode,
    uid: f.owner !== undefined ? resolveUid(f.owner) : current ? Number(current.uid) : owner !== undefined ? resolveUid(owner) : undefined,
    gid: f.group !== undefined ? resolveGid(f.group) : current ? Number(current.gid) : group !== undefined ? resolveGid(group) : undefined,
    existed: Boolean(current), backup: null, temp: null,
  };
}

/** Creates the temp file with its final mode from the start (a key is never readable by others, even briefly). */
async function writeTemp(p: Prepared): Promise<string> {
  const temp = join(dirname(p.path), `${basename(p.path)}${TEMP_MARK}${stamp()}`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, p.mode & 0o600);
  try {
    await handle.writeFile(p.content);
    if (p.uid !== undefined || p.gid !== undefined) await handle.chown(p.uid ?? -1, p.gid ?? -1);
    await handle.chmod(p.mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Puts the backed-up inode back (atomically, through a temp link) or removes a file that did not exist. */
async function restoreFiles(files: Prepared[]): Promise<void> {
  for (const p of files) {
    if (!p.existed) {
      await unlink(p.path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
      continue;
    }
    if (!p.backup) throw new Error(`no backup of ${p.path}`);
    const temp = `${p.path}${TEMP_MARK}${stamp()}`;
    await link(p.backup, temp);
    await rename(temp, p.path);
  }
}

async function removeTemps(files: Prepared[]): Promise<void> {
  await Promise.all(files.filter((p) => p.temp).map((p) => unlink(p.temp!).catch(() => undefined)));
}

async function removeBackups(files: Prepared[]): Promise<void> {
  await Promise.all(files.filter((p) => p.backup).map((p) => unlink(p.backup!).catch(() => undefined)));
}

/** Keeps the newest `keep` backups of each file; each directory is listed once. */
async function pruneBackups(paths: string[], keep: number): Promise<void> {
  const byDir = new Map<string, string[]>();
  for (const path of paths) byDir.set(dirname(path), [...(byDir.get(dirname(path)) ?? []), path]);
  await Promise.all([...byDir].map(async ([dir, files]) => {
    const names = await readdir(dir);
    for (const path of files) {
      const prefix = `${basename(path)}${BACKUP_MARK}`;
      const backups = names.filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length))).sort((a, b) => {
        const x = BigInt(a.slice(prefix.length));
        const y = BigInt(b.slice(prefix.length));
        return x < y ? 1 : x > y ? -1 : 0;
      });
      for (const old of backups.slice(keep)) {
        const full = join(dir, old);
        if ((await lstat(full)).isFile()) await unlink(full).catch(() => undefined);
      }
    }
  }));
}
