import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createWorkerApp } from '@certctl/observability';
import { freePort } from '@certctl/testing';
import { NotifierModule } from '../../apps/notifier/src/notifier.module';
import { SCANNER_FEATURES } from '../../apps/scanner/src/scanner.features';
import { PlatformHarness, startPlatform } from './platform-harness';

export const ROOT = resolve(__dirname, '..', '..');
export const BUILT_CLI = join(ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');
export const BUILT_MCP = join(ROOT, 'dist', 'apps', 'mcp', 'src', 'main.js');

/** The built entry point, or a failure that says how to make it (npm test builds first through `pretest`). */
export function requireBuilt(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first (npm test does it through pretest)`);
  return path;
}

export interface SurfaceHarness extends PlatformHarness {
  notifier: INestApplication;
  scanner: INestApplication;
  /** The api listening on a loopback port, for clients in other processes. */
  serverUrl: string;
  /** A scratch HOME for client processes, so no config file of the machine's user is read. */
  home: string;
}

/**
 * What the CLI and the MCP server talk to: the api (listening on a free loopback port), the orchestrator with
 * server-side keys (so renewals complete without an agent), the notifier (one attempt, loopback allowed, so a
 * webhook to a closed port is dead at once) and a scanner allowed to scan loopback.
 */
export async function startSurfacePlatform(): Promise<SurfaceHarness> {
  const platform = await startPlatform({
    CERTCTL_KEYGEN_MODE: 'server',
    CERTCTL_NOTIFIER_ALLOW_LOOPBACK: 'true',
    CERTCTL_NOTIFICATION_MAX_ATTEMPTS: '1',
    CERTCTL_NOTIFICATION_RETRY_INTERVAL: '1h',
    CERTCTL_NETWORK_SCAN_ALLOW_LOOPBACK: 'true',
    CERTCTL_NETWORK_SCAN_DUE_CHECK_INTERVAL: '1h',
  });
  const notifier = await createWorkerApp('notifier', [NotifierModule]);
  await notifier.init();
  const scanner = await createWorkerApp('scanner', SCANNER_FEATURES);
  await scanner.init();
  const port = await freePort();
  await platform.app.listen(port, '127.0.0.1');
  const home = mkdtempSync(join(tmpdir(), 'certctl-client-home-'));
  return {
    ...platform,
    notifier,
    scanner,
    serverUrl: `http://127.0.0.1:${port}`,
    home,
    async close() {
      await scanner.close();
      await notifier.close();
      await platform.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** An environment for a client process: only PATH, the scratch HOME and what the test gives. */
export function clientEnv(h: SurfaceHarness, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: h.home };
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a child process and returns its exit code and output (never throws on a non-zero exit). */
export function runBuiltCli(args: string[], env: Record<string, string>, timeoutMs = 60_000, stdin?: string): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = execFile(process.execPath, [requireBuilt(BUILT_CLI), ...args], { env, cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return fail(err);
      done({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    // What a person would type at a prompt; stdin then ends.
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
