import { isAbsolute, normalize } from 'node:path';
import { resolveGid, resolveUid } from './ownership';

/**
 * What whoever runs a deploying process (the server's administrator, or an agent host's) allows target configs to
 * do there: which validate/reload commands may run and under which directories files may be written. API callers
 * set configs, never this. Pure: it reads no environment (libs/config and the agent's config parse the settings).
 */

export const COMMAND_ALLOWLIST_SETTING = 'CERTCTL_DEPLOY_COMMAND_ALLOWLIST';
export const ALLOWED_ROOTS_SETTING = 'CERTCTL_DEPLOY_ALLOWED_ROOTS';
export const COMMAND_USER_SETTING = 'CERTCTL_DEPLOY_COMMAND_USER';

/**
 * One argv pattern per line (or separated by ";"), words separated by spaces. A word matches one argument:
 *  - `*` inside a word matches any characters; a wildcard never matches an option (a word starting with "-")
 *    unless the pattern word itself starts with "-", nor a path with a ".." segment. The program word may hold a
 *    wildcard only as an absolute path below a named directory (`/opt/certctl-hooks/*`);
 *  - `{path}` matches an absolute path (no "..") or a placeholder such as `{cert_path}`;
 *  - `...` as the last word matches any further arguments (zero or more);
 *  - a bare program name (`nginx`) matches that name looked up on PATH, or the program in a system directory
 *    (/usr/sbin/nginx, /usr/bin/nginx, ...); any other program must be named by its absolute path.
 */
export const DEFAULT_COMMAND_ALLOWLIST = [
  'nginx -t', 'nginx -t -q', 'nginx -s reload',
  'apachectl configtest', 'apachectl -t', 'apachectl graceful', 'apachectl -k graceful',
  'apache2ctl configtest', 'apache2ctl -t', 'apache2ctl graceful', 'apache2ctl -k graceful',
  'httpd -t', 'httpd -k graceful',
  'haproxy -c -f {path}', 'haproxy -c -q -f {path}',
  'systemctl reload *', 'systemctl try-reload-or-restart *',
  'postfix check', 'postfix reload',
  'doveconf -n', 'doveadm reload',
  'caddy validate --config {path}', 'caddy validate --config {path} --adapter *',
  'caddy reload --config {path}', 'caddy reload --config {path} --adapter *',
].join('\n');

/** Where the packaged daemons keep their TLS files. The demo (`npm start`) adds its own data directory. */
export const DEFAULT_ALLOWED_ROOTS = [
  '/etc/ssl', '/etc/pki', '/etc/nginx', '/etc/apache2', '/etc/httpd', '/etc/haproxy', '/etc/postfix', '/etc/dovecot',
  '/etc/caddy', '/etc/traefik', '/etc/envoy',
].join(',');

/** The directories a bare program name in a pattern may also be found in, written as an absolute path. */
const SYSTEM_BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The environment of every config command: nothing inherited, so no secret of the deploying process can reach it. */
const COMMAND_PATH = SYSTEM_BIN_DIRS.join(':');

export type CommandPattern = readonly string[];

export interface DeployPolicy {
  commandAllowlist: readonly CommandPattern[];
  /** Normalised absolute directories; a destination must be one of them or below one. */
  allowedRoots: readonly string[];
  /** Who config commands run as when the deploying process is root (unset: the process's own user). */
  commandUser?: { uid: number; gid: number };
}

/** Parses the allow-list setting; throws an Error saying what is wrong with which pattern. */
export function parseCommandAllowlist(text: string): CommandPattern[] {
  const patterns = text.split(/[;\n]/).map((line) => line.trim()).filter(Boolean).map((line) => line.split(/\s+/));
  for (const words of patterns) {
    const shown = JSON.stringify(words.join(' '));
    const program = words[0]!;
    if (program === '...' || program.includes('{')) throw new Error(`pattern ${shown}: the program must be a name or an absolute path`);
    if (program.includes('/') && !isAbsolute(program)) throw new Error(`pattern ${shown}: the program must be a bare name or an absolute path`);
    if (program.includes('*') && program.slice(0, program.indexOf('*')).lastIndexOf('/') < 1) {
      throw new Error(`pattern ${shown}: a wildcard program must be an absolute path inside a named directory (e.g. /opt/certctl-hooks/*)`);
    }
    if (/["'`$|&<>()\\]/.test(words.join(' '))) throw new Error(`pattern ${shown}: quotes and shell characters have no meaning here`);
    if (words.slice(0, -1).includes('...')) throw new Error(`pattern ${shown}: "..." may only be the last word`);
    const badPlaceholder = words.find((w) => /[{}]/.test(w) && w !== '{path}');
    if (badPlaceholder) throw new Error(`pattern ${shown}: ${badPlaceholder} is not a pattern word ({path} is the only placeholder)`);
  }
  return patterns;
}

/** Parses the allowed-roots setting (comma separated absolute directories); throws an Error naming a bad one. */
export function parseAllowedRoots(text: string): string[] {
  const roots = text.split(',').map((r) => r.trim()).filter(Boolean);
  for (const root of roots) {
    if (!isAbsolute(root)) throw new Error(`"${root}" is not an absolute path`);
    if (root.split('/').includes('..')) throw new Error(`"${root}" must not contain ".."`);
  }
  return roots.map(normalizeRoot);
}

function normalizeRoot(root: string): string {
  const normal = normalize(root);
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}

/**
 * The command user setting: `user:group` (names or numeric ids), or `user` alone when a group of the same name
 * exists. Throws an Error when either does not exist on this host.
 */
export function resolveCommandUser(text: string): { uid: number; gid: number } {
  const [user = '', group = user] = text.trim().split(':');
  const uid = user ? resolveUid(user) : undefined;
  if (uid === undefined) throw new Error(`user "${user}" does not exist on this host`);
  const gid = group ? resolveGid(group) : undefined;
  if (gid === undefined) throw new Error(`group "${group}" does not exist on this host (give "user:group")`);
  if (uid === 0 || gid === 0) throw new Error('must name an unprivileged user and group, not root');
  return { uid, gid };
}

let current: DeployPolicy = {
  commandAllowlist: parseCommandAllowlist(DEFAULT_COMMAND_ALLOWLIST),
  allowedRoots: parseAllowedRoots(DEFAULT_ALLOWED_ROOTS),
};

/** The policy of parsed settings; the command user is looked up on this host (an Error names the setting). */
export function deployPolicyOf(settings: { commandAllowlist: readonly CommandPattern[]; allowedRoots: readonly string[]; commandUser?: string }): DeployPolicy {
  let commandUser: DeployPolicy['commandUser'];
  if (settings.commandUser) {
    try {
      commandUser = resolveCommandUser(settings.commandUser);
    } catch (err) {
      throw new Error(`${COMMAND_USER_SETTING}: ${(err as Error).message}`);
    }
  }
  return { commandAllowlist: settings.commandAllowlist, allowedRoots: settings.allowedRoots, commandUser };
}

/** Installs this process's policy (at boot, from its settings); the defaults stay for what is not given. */
export function useDeployPolicy(policy: Partial<DeployPolicy>): void {
  current = { ...current, ...policy };
}

export function deployPolicy(): DeployPolicy {
  return current;
}

function globMatches(pattern: string, word: string): boolean {
  if (!pattern.includes('*')) return pattern === word;
  if (word.startsWith('-') && !pattern.startsWith('-')) return false;
  if (word.split('/').includes('..')) return false; // a wildcard never leads out of its directory
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return regex.test(word);
}

function wordMatches(pattern: string, word: string): boolean {
  if (pattern === '{path}') return /^\{\w+\}$/.test(word) || (isAbsolute(word) && !word.split('/').includes('..'));
  return globMatches(pattern, word);
}

function programMatches(pattern: string, program: string): boolean {
  if (pattern.includes('*')) return globMatches(pattern, program);
  if (pattern === program) return true;
  return !pattern.includes('/') && SYSTEM_BIN_DIRS.some((dir) => `${dir}/${pattern}` === program);
}

/** Whether a command's words (before placeholders are filled in) match one of the patterns. */
export function commandAllowed(words: readonly string[], patterns: readonly CommandPattern[] = current.commandAllowlist): boolean {
  return patterns.some((pattern) => {
    if (!words.length || !programMatches(pattern[0]!, words[0]!)) return false;
    const rest = pattern[pattern.length - 1] === '...';
    const fixed = rest ? pattern.length - 1 : pattern.length;
    if (rest ? words.length < fixed : words.length !== fixed) return false;
    for (let i = 1; i < fixed; i++) if (!wordMatches(pattern[i]!, words[i]!)) return false;
    return true;
  });
}

/** Whether an absolute, normalised path is one of the roots or below one. */
export function pathUnderRoots(path: string, roots: readonly string[] = current.allowedRoots): boolean {
  const normal = normalize(path);
  return roots.some((root) => root === '/' || normal === root || normal.startsWith(`${root}/`));
}

/** How a config command is started: a fixed, minimal environment and working directory, and the configured user. */
export interface CommandProcessOptions {
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
}

/** `isRoot` is the deploying process's own state (process.getuid() === 0), passed in to keep this module pure. */
export function commandProcessOptions(isRoot: boolean, policy: DeployPolicy = current): CommandProcessOptions {
  const options: CommandProcessOptions = { env: { PATH: COMMAND_PATH, LANG: 'C.UTF-8' }, cwd: '/' };
  if (isRoot && policy.commandUser) {
    options.uid = policy.commandUser.uid;
    options.gid = policy.commandUser.gid;
  }
  return options;
}
