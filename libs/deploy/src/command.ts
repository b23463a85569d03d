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

/**
 * Runs a config command with execFile (argv, no shell) and a timeout. `{name}` placeholders are replaced
 * word by word (so a path with spaces stays one argument). The error carries the tail of stderr.
 */
export function runCommand(command: string, options: { timeoutMs?: number; placeholders?: Record<string, string> } = {}): Promise<string> {
  const problem = commandProblem(command);
  if (problem) return Promise.reject(new CommandError(command, `refused command: ${problem}`));
  const words = splitCommand(command).map((w) => w.replace(/\{(\w+)\}/g, (all, name: string) => options.placeholders?.[name] ?? all));
  const [file, ...args] = words as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, maxBuffer: 1 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      const reason = e.killed ? `timed out after ${options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS} ms`
        : typeof e.code === 'number' ? `exited with status ${e.code}` : e.message;
      const detail = String(stderr || stdout).trim().split('\n').slice(-5).join(' | ').slice(0, 1000);
      reject(new CommandError(command, `${file}: ${reason}${detail ? `: ${detail}` : ''}`));
    });
  });
}
