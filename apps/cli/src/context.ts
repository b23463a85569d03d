import { Command, InvalidArgumentError } from 'commander';
import { CertctlClient, resolveSettings } from '@certctl/client';
import type { Io, OutputFormat } from './output';

/** A mistake in how the CLI was called that commander itself cannot see (exit 2, like its own errors). */
export class CliUsageError extends Error {}

/** The api answered, but what was asked for did not succeed (a broken audit chain, failed renewals): exit 1. */
export class CommandFailed extends Error {}

interface GlobalOptions {
  server?: string;
  apiKey?: string;
  config?: string;
  output: OutputFormat;
  timeout?: number;
}

/** What a command's handler gets: its arguments and options, the output format, and a client built on demand. */
export interface Run {
  args: string[];
  opts: Record<string, any>;
  format: OutputFormat;
  io: Io;
  client(): CertctlClient;
}

/**
 * Wraps a handler as a commander action. The client is built only when a handler asks for it, so `completion`
 * and `--help` need neither a key nor a reachable server.
 */
export function handler(io: Io, env: Record<string, string | undefined>, fn: (run: Run) => Promise<void>) {
  return async (...actionArgs: unknown[]): Promise<void> => {
    const command = actionArgs[actionArgs.length - 1] as Command;
    const globals = command.optsWithGlobals<GlobalOptions>();
    let client: CertctlClient | undefined;
    await fn({
      args: command.processedArgs as string[],
      opts: command.opts(),
      format: globals.output,
      io,
      client: () => {
        if (!client) {
          const settings = resolveSettings({
            flags: { server: globals.server, apiKey: globals.apiKey, config: globals.config, timeoutMs: globals.timeout && globals.timeout * 1000 },
            env,
          });
          for (const warning of settings.warnings ?? []) io.err(`certctl: warning: ${warning}\n`);
          client = new CertctlClient(settings);
        }
        return client;
      },
    });
  };
}

/** commander parser for a positive integer option (a bad value is a usage error, exit 2). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** commander parser for a comma-separated list. */
export function commaList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
