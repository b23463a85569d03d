import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { CertctlClient, DEFAULT_SERVER_URL, defaultConfigPath, normaliseServerUrl } from '@certctl/client';
import { CliUsageError } from '../context';
import type { Io } from '../output';

interface LoginGlobals {
  server?: string;
  apiKey?: string;
  config?: string;
  timeout?: number;
}

/**
 * `certctl login`: checks a key against the server (GET /auth/check) and saves both in the config file the CLI reads
 * (`--config`, CERTCTL_CONFIG, else ~/.config/certctl/config.json), mode 0600, keeping any other fields it holds.
 * The key is typed at the prompt or piped on stdin, so it never shows up in ps or the shell's history.
 */
export function loginCommand(io: Io, env: Record<string, string | undefined>): Command {
  return new Command('login')
    .description('check an API key against the server and save both in the config file (0600); the key is read from stdin')
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<LoginGlobals>();
      const path = resolve(globals.config || env.CERTCTL_CONFIG || defaultConfigPath(env));
      const saved = readSaved(path);
      const serverUrl = normaliseServerUrl(globals.server || env.CERTCTL_SERVER_URL || (typeof saved.server_url === 'string' ? saved.server_url : DEFAULT_SERVER_URL));
      const apiKey = (globals.apiKey ?? (await io.ask(`API key for ${serverUrl}: `)) ?? '').trim();
      if (!apiKey) throw new CliUsageError('no API key given: type it at the prompt, or pipe it (certctl login --server URL < key-file)');
      const who = await new CertctlClient({ serverUrl, apiKey, timeoutMs: (globals.timeout ?? 30) * 1000 }).authCheck();
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, `${JSON.stringify({ ...saved, server_url: serverUrl, api_key: apiKey }, null, 2)}\n`, { mode: 0o600 });
      chmodSync(path, 0o600); // an existing file keeps its mode on write
      io.out(`logged in to ${serverUrl} as ${who.actor ?? who.user ?? 'this key'}${who.role ? ` (${who.role})` : ''}; saved in ${path}\n`);
    });
}

function readSaved(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // not JSON: replaced below
  }
  throw new CliUsageError(`${path} exists but is not a JSON object: fix or remove it first`);
}
