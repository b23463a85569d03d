import { execFile } from 'node:child_process';
import { COMMAND_ALLOWLIST_SETTING, commandAllowed, CommandProcessOptions, commandProcessOptions } from './policy';

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** Characters a shell would interpret. Commands never go through a shell, but a config holding them is a mistake or an attack. */
const SHELL_METACHARACTERS = /[;|&$`<>()\n\r\\]/;

/** Why a command from a target config is refused, or undefined when it is acceptable. */
export function commandProblem(command: string): string | undefined {
  if (!command.trim()) return 'must not be empty';
  const bad = SHELL_METACHARACTERS.exec(command);
  if (bad) return `must not contain shell metacharacters (found ${JSON.stringify(bad[0])})`;
  try {
    splitCommand(command);
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/** Splits on whitespace; single or double quotes group words (no escapes, no expansion). */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | null = null;
  let inWord = false;
  for (const ch of command) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error('has an unterminated quote');
  if (inWord) words.push(current);
  if (!words.length) throw new Error('must not be empty');
  return words;
}

/** Why a command is refused by this process's allow-list, or undefined when it may run. */
export function commandNotAllowed(command: string): string | undefined {
  const words = splitCommand(command);
  if (commandAllowed(words)) return undefined;
  return `is not allowed by ${COMMAND_ALLOWLIST_SETTING} (the validate and reload commands the administrator of the deploying host permits)`;
}

export class CommandError extends Error {
  /**
   * The tail of the command's output, for a debug log only: it never goes into an answer, an audit row or a job
   * row (a command may print what it reads). Not enumerable, so serialising the error leaves it out.
   */
  declare readonly outputTail: string;

  constructor(readonly command: string, message: string, outputTail = '') {
    super(message);
    this.name = 'CommandError';
    Object.defineProperty(this, 'outputTail', { value: outputTail, enumerable: false });
  }
}

/** How a command ended: its output, and why it failed (null when it exited 0). */
export interface CommandExit {
  stdout: string;
  stderr: string;
  error: null | { killed: boolean; code?: number | string; message: string };
}

/** What a spawner is given: the timeout and the process options of commandProcessOptions (environment, directory, user). */
export type SpawnOptions = { timeoutMs: number } & CommandProcessOptions;

/**
 * Runs argv (no shell) with a timeout after which it is killed (SIGKILL); output is capped at 1 MiB. The
 * environment, working directory and user are exactly the ones given: nothing of the calling process is inherited.
 */
export type CommandSpawner = (file: string, args: string[], options: SpawnOptions) => Promise<CommandExit>;

/** execFile in this process. */
export const spawnInProcess: CommandSpawner = (file, args, options) => new Promise((resolve) => {
  execFile(file, args, {
    timeout: options.timeoutMs, maxBuffer: 1 << 20, killSignal: 'SIGKILL', env: options.env, cwd: options.cwd, uid: options.uid, gid: options.gid,
  }, (err, stdout, stderr) => {
    const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
    resolve({ stdout: String(stdout), stderr: String(stderr), error: e ? { killed: Boolean(e.killed), code: e.code, message: e.message } : null });
  });
});

let spawner: CommandSpawner = spawnInProcess;

/**
 * Where config commands are started. A large process pays for every fork on its event loop; the orchestrator
 * hands them to a small helper process instead. Without an argument, back to execFile in this process.
 */
export function useCommandSpawner(next?: CommandSpawner): void {
  spawner = next ?? spawnInProcess;
}

/**
 * Runs a config command (argv, no shell) with a timeout, if this process's allow-list permits it (checked here
 * again whatever checked the config before), in a scrubbed environment (PATH and LANG only), from "/", and as the
 * configured command user when this process is root. `{name}` placeholders are replaced word by word (so a path
 * with spaces stays one argument). The error says how the command ended (exit status, timeout) and nothing of
 * what it printed: output can hold whatever the command read.
 */
export async function runCommand(command: string, options: { timeoutMs?: number; placeholders?: Record<string, string> } = {}): Promise<string> {
  const problem = commandProblem(command);
  if (problem) throw new CommandError(command, `refused command: ${problem}`);
  const notAllowed = commandNotAllowed(command);
  if (notAllowed) throw new CommandError(command, `refused command: ${JSON.stringify(command)} ${notAllowed}`);
  const words = splitCommand(command).map((w) => w.replace(/\{(\w+)\}/g, (all, name: string) => options.placeholders?.[name] ?? all));
  const [file, ...args] = words as [string, ...string[]];
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const { stdout, stderr, error } = await spawner(file, args, { timeoutMs, ...commandProcessOptions(process.getuid?.() === 0) });
  if (!error) return stdout;
  const reason = error.killed ? `timed out after ${timeoutMs} ms`
    : typeof error.code === 'number' ? `exited with status ${error.code}`
    : typeof error.code === 'string' && error.code.startsWith('SIG') ? `was killed by ${error.code}`
    : typeof error.code === 'string' && /^E[A-Z0-9_]+$/.test(error.code) ? `could not be started (${error.code})`
    : 'failed';
  // NUL bytes are dropped: the tail may be logged as text.
  const tail = String(stderr || stdout).replace(/\0/g, '').trim().split('\n').slice(-5).join(' | ').slice(0, 1000);
  throw new CommandError(command, `${file}: ${reason}`, tail);
}
