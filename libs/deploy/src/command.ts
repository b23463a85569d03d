import { execFile } from 'node:child_process';

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

export class CommandError extends Error {
  constructor(readonly command: string, message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

/** How a command ended: its output, and why it failed (null when it exited 0). */
export interface CommandExit {
  stdout: string;
  stderr: string;
  error: null | { killed: boolean; code?: number | string; message: string };
}

/** Runs argv (no shell) with a timeout after which it is killed (SIGKILL); output is capped at 1 MiB. */
export type CommandSpawner = (file: string, args: string[], options: { timeoutMs: number }) => Promise<CommandExit>;

/** execFile in this process. */
export const spawnInProcess: CommandSpawner = (file, args, options) => new Promise((resolve) => {
  execFile(file, args, { timeout: options.timeoutMs, maxBuffer: 1 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
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
 * Runs a config command (argv, no shell) with a timeout. `{name}` placeholders are replaced word by word (so a
 * path with spaces stays one argument). The error carries the tail of stderr.
 */
export async function runCommand(command: string, options: { timeoutMs?: number; placeholders?: Record<string, string> } = {}): Promise<string> {
  const problem = commandProblem(command);
  if (problem) throw new CommandError(command, `refused command: ${problem}`);
  const words = splitCommand(command).map((w) => w.replace(/\{(\w+)\}/g, (all, name: string) => options.placeholders?.[name] ?? all));
  const [file, ...args] = words as [string, ...string[]];
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const { stdout, stderr, error } = await spawner(file, args, { timeoutMs });
  if (!error) return stdout;
  const reason = error.killed ? `timed out after ${timeoutMs} ms` : typeof error.code === 'number' ? `exited with status ${error.code}` : error.message;
  // NUL bytes are dropped: PostgreSQL refuses them in text, and the message goes on the job row.
  const detail = String(stderr || stdout).replace(/\0/g, '').trim().split('\n').slice(-5).join(' | ').slice(0, 1000);
  throw new CommandError(command, `${file}: ${reason}${detail ? `: ${detail}` : ''}`);
}
