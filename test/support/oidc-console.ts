import type { Browser } from 'playwright-core';
import { describe } from 'vitest';
import { freePort } from '@certctl/testing';
import { startApi, ApiHarness } from './api-harness';
import { chromiumMissing, launchChromium } from './chromium';
import { OidcPeer, OidcTestUser, startOidcPeer } from './oidc-provider-peer';
import { ensureWebBuild } from './web-build';

/**
 * The suite function for a Chromium test: outside CI a missing Chromium skips it with a printed reason; with
 * CI=true it runs, and `startOidcConsole` fails it with that reason.
 */
export function chromiumSuite(label: string): { missing: string | undefined; suite: typeof describe | typeof describe.skip } {
  const missing = chromiumMissing();
  if (missing && process.env.CI !== 'true') console.warn(`[${label}] skipped: ${missing}`);
  return { missing, suite: missing && process.env.CI !== 'true' ? describe.skip : describe };
}

/** The api (console included) on a free port with OpenID sign-in, the provider that knows its callbacks, and Chromium. */
export interface OidcConsole {
  p: ApiHarness;
  peer: OidcPeer;
  browser: Browser;
  /** The api's own address, http://127.0.0.1:<port>. */
  base: string;
  /** Closes Chromium, the api and the provider. */
  close(): Promise<void>;
}

/**
 * Starts a real OpenID provider (oidc-provider) with `users`, whose client's redirect, back-channel logout and
 * post-logout addresses point at an api started here with `CERTCTL_AUTH_TYPE=oidc` (plain http allowed, on
 * 127.0.0.1) plus `env`, then Chromium. Throws `missing` (Chromium cannot run, under CI) before starting anything.
 */
export async function startOidcConsole(options: { missing: string | undefined; users: Record<string, OidcTestUser>; env: Record<string, string> }): Promise<OidcConsole> {
  if (options.missing) throw new Error(`CI=true and Chromium cannot run: ${options.missing}`);
  ensureWebBuild();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const peer = await startOidcPeer({
    redirectUri: `${base}/auth/oidc/callback`,
    backchannelLogoutUri: `${base}/auth/oidc/back-channel-logout`,
    postLogoutRedirectUri: `${base}/login`,
    users: options.users,
  });
  let p: ApiHarness | undefined;
  try {
    p = await startApi({ CERTCTL_AUTH_TYPE: 'oidc', CERTCTL_OIDC_ALLOW_INSECURE_HTTP: 'true', ...options.env });
    await p.app.listen(port, '127.0.0.1');
    const browser = await launchChromium();
    const api = p;
    return {
      p: api, peer, browser, base,
      close: async () => {
        await browser.close();
        await api.close();
        await peer.close();
      },
    };
  } catch (err) {
    await p?.close().catch(() => undefined);
    await peer.close().catch(() => undefined);
    throw err;
  }
}
